"""Approvals through `iac-mcp serve` as real subprocesses: stdio (the pages on the loopback
listener started on demand, the link by `elicit_url` over 2025-11-25) and streamable HTTP
(the pages under /approvals on the server, the link in an input-required result over
2026-07-28), against a sandbox over real HTTP configured as a profile, the way an operator
runs it: `iac-mcp sandbox` plus a profiles file. `iac-mcp audit --json` names the approver."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from approvals_support import Clock, Genesys, Rig, Yes, decide, pending, person, real_runs, sign_in
from http_support import free_port, http_client
from mcp import Client, StdioServerParameters
from servers import CLEAN_ENV, fresh_ledger_url, text_of

from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.serve import running_sandbox
from iac_mcp.sandbox.settings import SandboxSettings

pytestmark = pytest.mark.anyio


@pytest.fixture
def genesys() -> Iterator[Genesys]:
    settings = SandboxSettings(job_duration=0)
    app = create_app(settings)
    with running_sandbox(app=app) as url:
        yield Genesys(url, settings, app.state.sandbox)


def operator_env(genesys: Genesys, ledger_url: str) -> dict[str, str]:
    """A profiles file naming the sandbox as the org `dev` under `signed`, and its variables."""
    org = genesys.settings.served_orgs[0]
    profiles = Path(tempfile.mkdtemp(prefix="iac-mcp-profiles-")) / "profiles.toml"
    profiles.write_text(
        f"""
[profiles.dev]
label = "Development"
api_base = "{genesys.url}"
client_id_env = "DEV_CLIENT_ID"
client_secret_env = "DEV_CLIENT_SECRET"
approval = "signed"
approval_client_id = "{org.signin_client_id}"
""",
        encoding="utf-8",
    )
    return CLEAN_ENV | {
        "IAC_MCP_PROFILES": str(profiles),
        "DEV_CLIENT_ID": org.client_id,
        "DEV_CLIENT_SECRET": org.client_secret,
        "IAC_MCP_DATABASE_URL": ledger_url,
    }


def audit_json(env: dict[str, str]) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "iac_mcp", "audit", "--json"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


async def approve_and_apply(rig: Rig, yes: Yes) -> tuple[str, dict[str, object]]:
    token = await rig.plan()
    approval = pending(await rig.apply(token))
    assert yes.links == [approval["link"]] and not yes.forms and real_runs(rig.genesys) == 0
    async with person() as alice:
        await decide(alice, approval["link"], await sign_in(alice, approval["link"], "alice", "alice-sandbox"), "approved")
    applied = await rig.apply(token)
    assert not applied.is_error, text_of(applied)
    assert applied.structured_content["consent"] == "approved" and real_runs(rig.genesys) == 1
    return str(approval["link"]), dict(applied.structured_content)


async def test_over_stdio_the_loopback_pages_approve_and_the_audit_names_the_approver(genesys: Genesys) -> None:
    ledger_url = fresh_ledger_url()
    env = operator_env(genesys, ledger_url)
    yes = Yes()
    server = StdioServerParameters(command=sys.executable, args=["-m", "iac_mcp", "serve"], env=env)
    async with Client(server, mode="legacy", elicitation_callback=yes) as client:
        link, _ = await approve_and_apply(Rig(client, genesys, Clock(), ledger_url), yes)
    assert link.startswith("http://127.0.0.1:") and "/approvals/" in link
    trail = audit_json(env)
    real = [r for r in trail if r["kind"] == "outcome" and r["dry_run"] is False]
    assert real and real[0]["consent"] == "approved"
    assert [a["name"] for a in real[0]["approvers"]] == ["Alice Approver"]  # type: ignore[index, union-attr]
    assert [r["consent"] for r in trail if r["kind"] == "approval"] == ["approved"]


async def test_over_http_the_pages_are_on_the_server_and_the_callback_never_reaches_the_log(genesys: Genesys) -> None:
    ledger_url = fresh_ledger_url()
    env = operator_env(genesys, ledger_url)
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="iac-mcp-log-")) / "stderr.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "iac_mcp", "serve", "--http", "--port", str(port)], env=env, stderr=stderr
        )
        try:
            url = f"http://127.0.0.1:{port}"
            await _healthy(url, process)
            yes = Yes()
            async with http_client(url, "auto", token=None, elicitation_callback=yes) as client:
                link, _ = await approve_and_apply(Rig(client, genesys, Clock(), ledger_url), yes)
            rebound = httpx.get(link, headers={"Host": f"evil.example:{port}"}, timeout=10)
            assert rebound.status_code == 421, "the pages are behind the exact Host guard"
        finally:
            process.terminate()
            process.wait(15)
    assert link.startswith(url + "/approvals/")
    logged = log.read_text(encoding="utf-8")
    assert "GET /approvals/callback?[withheld]" in logged, logged[-2000:]
    assert "code=" not in logged and "state=" not in logged, "no authorization code or state is logged"
    assert [a["name"] for r in audit_json(env) if r["kind"] == "outcome" for a in r["approvers"]] == ["Alice Approver"]  # type: ignore[union-attr]


async def _healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(timeout=1) as http:
        for _ in range(600):
            assert process.poll() is None, "the server exited"
            try:
                if (await http.get(url + "/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await anyio.sleep(0.05)
    raise AssertionError("the server did not become healthy in 30 s")


def test_the_embedded_sandbox_refuses_approval_policies_with_the_supported_way() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "iac_mcp", "serve", "--sandbox", "--approval", "signed"],
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 2
    assert "The embedded sandbox cannot sign approvers in (profile default needs approvals)" in done.stderr
    assert "run `iac-mcp sandbox`" in done.stderr and 'approval_client_id = "iac-mcp-sandbox-signin"' in done.stderr
