"""Streamable HTTP under real uvicorn: both eras, progress over SSE, and every refusal."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from http_support import (
    INITIALIZE,
    MCP_HEADERS,
    TOKEN,
    Consenting,
    cli,
    free_port,
    http_app,
    http_client,
    run_flow,
    running_http,
)
from servers import ERAS, sandbox

from iac_mcp.genesys.errors import ConfigurationError
from iac_mcp.settings import Settings, SettingsError, load_settings
from iac_mcp.transports.auth import StaticTokenVerifier
from iac_mcp.transports.http import check_exposure, transport_security
from iac_mcp.transports.identities import NamedToken


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def served() -> Iterator[tuple[str, object]]:
    """A guarded HTTP server over a sandbox whose jobs take a second (so waits report progress)."""
    app = sandbox(job_duration=1)
    with running_http(http_app(app, max_body_bytes=64 * 1024)) as url:
        yield url, app


@pytest.mark.anyio
@pytest.mark.parametrize(("era", "stateful"), [("auto", False), ("legacy", True)])
async def test_whole_flow_with_progress_over_sse(era: str, stateful: bool) -> None:
    """2026-07-28 clients on the default stateless server; handshake-era ones on --stateful,
    where the server can put the consent question to them."""
    app = sandbox(job_duration=1)
    consent = Consenting()
    with running_http(http_app(app, max_body_bytes=64 * 1024, stateful=stateful)) as url:
        async with http_client(url, era, elicitation_callback=consent) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            flow = await run_flow(client)
    assert {"list-accelerators", "describe-accelerator", "submit-job", "get-job", "list-jobs"} <= tools
    assert flow.final["status"] == "Complete" and flow.final["succeeded"]
    assert any(m.endswith(": Complete") for m in flow.plan_progress)
    assert len(flow.plan_progress) >= 2, "the wait must stream each status change"
    assert app.state.sandbox.jobs[flow.apply_id].dry_run is False  # type: ignore[attr-defined]
    assert len(consent.questions) == 1 and consent.questions[0].startswith("Apply to the Genesys Cloud org")


def _post(url: str, **kwargs: object) -> httpx.Response:
    headers = {**MCP_HEADERS, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    return httpx.post(url + "/mcp", json=kwargs.pop("json", INITIALIZE), headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"])
def test_missing_or_wrong_token_is_401_and_reveals_nothing(served: tuple[str, object], authorization: str | None) -> None:
    url, _ = served
    answer = _post(url, headers={"Authorization": authorization} if authorization else {})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert TOKEN not in answer.text and "token-" not in answer.text and "iac-mcp" not in answer.text


def test_right_token_passes(served: tuple[str, object]) -> None:
    url, _ = served
    answer = _post(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200


def test_bad_origin_is_403_and_bad_host_is_421(served: tuple[str, object]) -> None:
    url, _ = served
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert _post(url, headers={**auth, "Origin": "http://evil.example"}).status_code == 403
    assert _post(url, headers={**auth, "Host": "evil.example"}).status_code == 421
    assert _post(url, headers={**auth, "Origin": "http://localhost:3000"}).status_code == 200


def test_big_body_is_413(served: tuple[str, object]) -> None:
    url, _ = served
    big = {**INITIALIZE, "params": {**INITIALIZE["params"], "padding": "x" * 100_000}}  # type: ignore[dict-item]
    assert _post(url, json=big, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 413


def test_healthz_needs_no_token_and_says_nothing_secret(served: tuple[str, object]) -> None:
    url, app = served
    before = sum(app.state.sandbox.requests.values())  # type: ignore[attr-defined]
    answer = httpx.get(url + "/healthz", timeout=10)
    assert answer.status_code == 200 and answer.json()["status"] == "ok"
    assert TOKEN not in answer.text
    assert sum(app.state.sandbox.requests.values()) == before  # type: ignore[attr-defined]


def test_unguarded_loopback_server_serves_without_token() -> None:
    with running_http(http_app(sandbox(), tokens=())) as url:
        assert _post(url).status_code == 200


def test_allowed_hosts_and_origins_extend_the_defaults() -> None:
    security = transport_security(
        Settings(host="10.1.2.3", allowed_hosts=("mcp.example.com",), allowed_origins=("https://chat.example.com",))
    )
    assert {"127.0.0.1:*", "10.1.2.3", "10.1.2.3:*", "mcp.example.com", "mcp.example.com:*"} <= set(security.allowed_hosts)
    assert "https://chat.example.com" in security.allowed_origins
    assert "http://evil.example" not in security.allowed_origins


def test_exposed_host_without_tokens_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="without authentication"):
        check_exposure(Settings(host="0.0.0.0"), ())
    check_exposure(Settings(host="0.0.0.0"), (NamedToken.unnamed("t"),))
    check_exposure(Settings(host="::1"), ())


def test_insecure_no_auth_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="iac_mcp.http"):
        check_exposure(Settings(host="0.0.0.0", insecure_no_auth=True), ())
    assert any("INSECURE" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_cli_refuses_an_exposed_bind_without_tokens() -> None:
    done = subprocess.run(
        cli("serve", "--http", "--sandbox", "--host", "0.0.0.0", "--port", str(free_port())),
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "without authentication" in done.stderr


def test_cli_refuses_workers_on_the_in_process_sandbox() -> None:
    done = subprocess.run(
        cli("serve", "--http", "--sandbox", "--workers", "2", "--port", str(free_port())),
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "IAC_MCP_SIGNING_KEY": "k" * 32},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "iac-mcp sandbox" in done.stderr


def test_tokens_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, f1, f2 = ("env-a", "env-b", "file-token-1", "file-token-2")
    a, b, f1, f2 = (name + "-" + "x" * 32 for name in (a, b, f1, f2))
    file = tmp_path / "tokens"
    file.write_text(f"# ops bot\n{f1}\n\n  {f2}  \n", encoding="utf-8")
    monkeypatch.setenv("IAC_MCP_HTTP_TOKENS", f"{a}, {b},,")
    assert [t.token for t in load_settings({"token_file": file}).bearer_tokens()] == [a, b, f1, f2]
    monkeypatch.delenv("IAC_MCP_HTTP_TOKENS")
    monkeypatch.setenv("IAC_MCP_HTTP_TOKEN_FILE", str(file))
    assert load_settings().bearer_tokens() == (NamedToken.unnamed(f1), NamedToken.unnamed(f2))
    file.write_text("short\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="IAC_MCP_HTTP_TOKEN_FILE"):
        load_settings().bearer_tokens()


@pytest.mark.anyio
async def test_verifier_accepts_only_configured_tokens() -> None:
    verifier = StaticTokenVerifier([NamedToken.unnamed("alpha-token"), NamedToken.unnamed("beta-token")])
    good = await verifier.verify_token("beta-token")
    assert good is not None and good.client_id.startswith("token-") and "beta" not in good.client_id
    assert await verifier.verify_token("beta-toke") is None
    assert await verifier.verify_token("") is None


def test_stateless_mode_refuses_streams_instead_of_holding_them_open() -> None:
    """mcp would hold a stateless GET open forever: one client's idle streams would pin workers."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "text/event-stream"}
    with running_http(http_app(sandbox())) as url:
        for method in ("GET", "DELETE"):
            answer = httpx.request(method, url + "/mcp", headers=headers, timeout=5)
            assert answer.status_code == 405 and answer.headers["allow"] == "POST"
        assert httpx.get(url + "/mcp", timeout=5).status_code == 401, "authentication still comes first"
        assert _post(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    with running_http(http_app(sandbox(), stateful=True)) as url:
        answer = httpx.get(url + "/mcp", headers=headers, timeout=5)
        assert answer.status_code != 405, "a stateful server keeps its session streams"


@pytest.mark.anyio
async def test_without_tokens_only_local_unproxied_callers_are_served() -> None:
    """The uvicorn factory cannot see where uvicorn bound (`--host 0.0.0.0`): the app itself
    refuses a non-loopback peer, and any proxied request, when it has no bearer tokens."""
    app = http_app(sandbox(), tokens=())
    remote = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.1.2.3", 50000)), base_url="http://127.0.0.1")
    async with remote:
        answer = await remote.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
    assert answer.status_code == 403 and "no bearer tokens" in answer.text
    with running_http(http_app(sandbox(), tokens=())) as url:
        assert _post(url).status_code == 200
        assert _post(url, headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
        assert _post(url, headers={"Forwarded": "for=203.0.113.9"}).status_code == 403
    with running_http(http_app(sandbox())) as url:  # with tokens, proxies are fine
        assert _post(url, headers={"Authorization": f"Bearer {TOKEN}", "X-Forwarded-For": "203.0.113.9"}).status_code == 200
