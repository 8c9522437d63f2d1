"""The one way in: settings validated once, `check`, workers configured like the parent."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import Sandbox
from http_support import HOST, cli, free_port
from servers import CLEAN_ENV

from iac_mcp.settings import ENVIRONMENT_VARIABLES, Mode, Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli(*args), env={**CLEAN_ENV, **(env or {})}, capture_output=True, text=True, timeout=timeout)


def test_a_typo_in_the_mode_stops_the_server_naming_the_variable() -> None:
    done = run("serve", "--sandbox", env={"IAC_MCP_MODE": "readonly"})
    assert done.returncode == 2
    assert "IAC_MCP_MODE" in done.stderr and "read-only, dry-run-only, apply" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_flag_value_names_its_variable_and_never_echoes_a_secret() -> None:
    secret = "s3cr3t-value-that-must-not-appear"
    done = run("check", "--consent", "maybe", env={"GENESYSCLOUD_OAUTHCLIENT_SECRET": secret, "IAC_MCP_HTTP_PORT": "x" + secret})
    assert done.returncode == 2
    assert "IAC_MCP_CONSENT" in done.stderr and "ask, plan-token" in done.stderr
    assert "IAC_MCP_HTTP_PORT" in done.stderr
    assert secret not in done.stderr


def test_flags_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAC_MCP_MODE", "read-only")
    assert load_settings().mode is Mode.READ_ONLY
    assert load_settings({"mode": "apply"}).mode is Mode.APPLY
    monkeypatch.setenv("IAC_MCP_HTTP_ALLOWED_HOSTS", "a.example, b.example")
    assert load_settings().allowed_hosts == ("a.example", "b.example")
    monkeypatch.setenv("IAC_MCP_LOG_LEVEL", "verbose")
    with pytest.raises(SettingsError, match="IAC_MCP_LOG_LEVEL"):
        load_settings()


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = {m.group(1) for m in re.finditer(r"^\|[^|\n]*`([A-Z][A-Z0-9_]+)`", readme, re.MULTILINE)}
    table |= {name for m in re.finditer(r"^\| `([A-Z_]+)`, `([A-Z_]+)`", readme, re.MULTILINE) for name in m.groups()}
    missing = sorted(set(ENVIRONMENT_VARIABLES.values()) - table)
    assert not missing, f"settings missing from the README's configuration table: {missing}"
    assert set(ENVIRONMENT_VARIABLES) == set(Settings.model_fields)


def test_check_reports_on_the_sandbox_over_http(sandbox: Sandbox) -> None:
    settings = sandbox.state.settings
    env = {
        "GENESYSCLOUD_API_REGION": sandbox.url,
        "GENESYSCLOUD_OAUTHCLIENT_ID": settings.client_id,
        "GENESYSCLOUD_OAUTHCLIENT_SECRET": settings.client_secret,
        "IAC_MCP_DATABASE_URL": "sqlite:////tmp/iac-mcp-check-test.sqlite3",
    }
    done = run("check", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "result: ok" in done.stdout and sandbox.url in done.stdout
    assert "token lifetime: 86400 s" in done.stdout and "accelerator(s)" in done.stdout
    assert settings.client_secret not in done.stdout + done.stderr


def test_check_with_a_wrong_secret_fails_clearly(sandbox: Sandbox) -> None:
    env = {
        "GENESYSCLOUD_API_REGION": sandbox.url,
        "GENESYSCLOUD_OAUTHCLIENT_ID": sandbox.state.settings.client_id,
        "GENESYSCLOUD_OAUTHCLIENT_SECRET": "wrong-secret-0123456789",
    }
    done = run("check", env=env)
    assert done.returncode == 1
    assert "OAuth token request failed with HTTP 401" in done.stdout
    assert "wrong-secret-0123456789" not in done.stdout + done.stderr


def test_check_without_configuration_exits_2() -> None:
    done = run("check")
    assert done.returncode == 2 and "GENESYSCLOUD_REGION" in done.stderr


def test_check_works_on_the_embedded_sandbox(tmp_path: Path) -> None:
    done = run("check", "--sandbox", env={"IAC_MCP_DATABASE_URL": f"sqlite:///{tmp_path}/l.sqlite3"})
    assert done.returncode == 0, done.stderr
    assert "embedded sandbox" in done.stdout


@pytest.mark.slow
def test_every_worker_logs_at_the_level_of_the_command_line(sandbox: Sandbox, tmp_path: Path) -> None:
    port = free_port()
    settings = sandbox.state.settings
    env = {
        **CLEAN_ENV,
        "GENESYSCLOUD_API_REGION": sandbox.url,
        "GENESYSCLOUD_OAUTHCLIENT_ID": settings.client_id,
        "GENESYSCLOUD_OAUTHCLIENT_SECRET": settings.client_secret,
        "IAC_MCP_SIGNING_KEY": "k" * 40,
        "IAC_MCP_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.sqlite3",
    }
    args = cli("serve", "--http", "--host", HOST, "--port", str(port), "--workers", "2", "--log-level", "DEBUG")
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://{HOST}:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        time.sleep(2)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    debug_pids = set(re.findall(r" DEBUG [\w.]+\[(\d+)\]", stderr))
    assert len(debug_pids) >= 2, stderr[-3000:]
    assert process.returncode is not None


def test_python_dash_m_is_the_same_command() -> None:
    done = subprocess.run([sys.executable, "-m", "iac_mcp", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("iac-mcp ")


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("GENESYSCLOUD_ACCESS_TOKEN", "abc\r\nX-Injected: 1", "visible ASCII"),
        ("GENESYSCLOUD_ACCESS_TOKEN", "tökén-with-ümlauts-0123456789", "visible ASCII"),
        ("IAC_MCP_SIGNING_KEY", "short-key", "at least 32"),
        ("IAC_MCP_HTTP_TOKENS", "a-short-token", "at least 32"),
    ],
)
def test_weak_or_malformed_secrets_are_refused_without_echoing_them(variable: str, value: str, words: str) -> None:
    done = run("serve", "--sandbox", env={variable: value})
    assert done.returncode == 2, done.stderr
    assert variable in done.stderr and words in done.stderr
    assert value not in done.stderr and "X-Injected" not in done.stderr


def test_plain_http_to_a_remote_genesys_and_long_unknown_regions_are_refused() -> None:
    done = run("check", env={"GENESYSCLOUD_API_REGION": "http://api.mypurecloud.ie", "GENESYSCLOUD_ACCESS_TOKEN": "t" * 40})
    assert done.returncode == 2 and "in clear" in done.stderr
    pasted = "x" * 60
    done = run("check", env={"GENESYSCLOUD_REGION": pasted, "GENESYSCLOUD_ACCESS_TOKEN": "t" * 40})
    assert done.returncode == 2 and "a value of 60 characters" in done.stderr and pasted not in done.stderr


def test_proxy_headers_without_tokens_are_refused() -> None:
    done = run("serve", "--sandbox", "--http", "--proxy-headers")
    assert done.returncode == 2 and "proxy headers" in done.stderr


def test_check_refuses_a_ledger_it_cannot_open_without_showing_its_password() -> None:
    done = run("check", "--sandbox", env={"IAC_MCP_DATABASE_URL": "postgresql://ops:hunter2-pw@127.0.0.1:1/ledger"})
    assert done.returncode == 2 and "IAC_MCP_DATABASE_URL" in done.stderr
    assert "hunter2-pw" not in done.stderr + done.stdout
