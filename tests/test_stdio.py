"""`iac-mcp serve` as the real subprocess an MCP client launches, in both protocol eras (and, beside
it, how a server built to open before serving treats a broken ledger)."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import anyio
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.context import ClientRequestContext
from mcp.client.stdio import stdio_client
from mcp.types import ElicitRequestParams, ElicitResult
from servers import CLEAN_ENV, ERAS, connected, fresh_ledger, sandbox, text_of

from iac_mcp.demo import example_arguments
from iac_mcp.ledger import LedgerConfigError
from iac_mcp.sandbox.serve import running_sandbox

pytestmark = pytest.mark.anyio

def _server(*args: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "iac_mcp", "serve", "--sandbox", "--job-duration", "0", *args], env=CLEAN_ENV
    )


async def _accept(_: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
    return ElicitResult(action="accept", content={"confirm": True})


@pytest.mark.parametrize("era", ERAS)
async def test_the_whole_flow_over_stdio(era: str) -> None:
    async with Client(_server(), mode=era, elicitation_callback=_accept) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        listing = await client.call_tool("list-accelerators", {"name": "queue"})
        target = listing.structured_content["accelerators"][0]
        described = await client.call_tool("describe-accelerator", {"accelerator_id": target["id"]})
        params = example_arguments(described.structured_content["parameters_schema"])
        planned = await client.call_tool("submit-job", {"accelerator_id": target["id"], "parameters": params})
        plan = await client.call_tool("get-job", {"job_id": planned.structured_content["job"]["id"], "wait_seconds": 5})
        applied = await client.call_tool(
            "submit-job",
            {
                "accelerator_id": target["id"],
                "parameters": params,
                "dry_run": False,
                "plan_token": planned.structured_content["plan_token"],
            },
        )
        done = await client.call_tool("get-job", {"job_id": applied.structured_content["job"]["id"], "wait_seconds": 5})
        history = await client.call_tool("list-jobs", {"accelerator_id": target["id"]})
    assert names == {"list-accelerators", "describe-accelerator", "submit-job", "get-job", "list-jobs"}  # one org: no promotion
    assert plan.structured_content["succeeded"], text_of(plan)
    assert not applied.is_error, text_of(applied)
    assert done.structured_content["succeeded"] and done.structured_content["dry_run"] is False
    assert history.structured_content["count"] == 2


async def test_read_only_mode_over_stdio() -> None:
    async with Client(_server("--mode", "read-only"), mode="auto") as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert "submit-job" not in names and len(names) == 4


def _closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("era", ERAS)
async def test_a_ledger_that_cannot_open_refuses_every_call_with_the_reason_and_never_its_password(era: str) -> None:
    """Over stdio the ledger opens while the server answers; when it cannot, the tools are
    still listed, and every call is refused (an `isError` result) saying why, before
    anything reaches Genesys (a sandbox over HTTP counts: no request, not even for a token).
    The URL's password is never shown, in a result or the log."""
    password = "ledger-password-never-shown"
    url = f"postgresql://iac:{password}@127.0.0.1:{_closed_port()}/iac"
    genesys = sandbox()
    credentials = genesys.state.sandbox.settings
    with running_sandbox(app=genesys) as api, tempfile.TemporaryFile("w+", encoding="utf-8") as stderr, anyio.fail_after(60):
        env = CLEAN_ENV | {
            "GENESYSCLOUD_API_REGION": api,
            "GENESYSCLOUD_OAUTHCLIENT_ID": credentials.client_id,
            "GENESYSCLOUD_OAUTHCLIENT_SECRET": credentials.client_secret,
            "IAC_MCP_DATABASE_URL": url,
        }
        parameters = StdioServerParameters(
            command=sys.executable, args=["-m", "iac_mcp", "serve", "--log-level", "DEBUG"], env=env
        )
        async with Client(stdio_client(parameters, errlog=stderr), mode=era) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            listing = await client.call_tool("list-accelerators", {})
            applied = await client.call_tool("submit-job", {"accelerator_id": "x", "parameters": {}, "dry_run": False})
            with pytest.raises(MCPError) as resource:
                await client.read_resource("iac://audit/recent")
        stderr.seek(0)
        logged = stderr.read()
    assert "list-accelerators" in names and "submit-job" in names
    for refused in (listing, applied):
        said = text_of(refused)
        assert refused.is_error, said
        assert "iac-mcp could not start: The ledger at postgresql+asyncpg://iac:***@127.0.0.1" in said, said
        assert "Nothing was sent to Genesys" in said and "restarts the server" in said
    assert "could not start" in str(resource.value)
    assert "did not open" in logged
    assert genesys.state.sandbox.token_requests == 0 and not genesys.state.sandbox.requests
    assert password not in logged + text_of(listing) + text_of(applied) + str(resource.value)


async def test_the_first_call_waits_for_the_ledger_to_open() -> None:
    """Sent the moment the server answers `initialize`, a call is served once the ledger is open."""
    async with Client(_server(), mode="auto") as client:
        planned = await client.call_tool("list-jobs", {})
    assert not planned.is_error, text_of(planned)


def test_missing_configuration_fails_at_start_with_one_clear_message() -> None:
    secret = "do-not-print-this-secret"
    env = dict(CLEAN_ENV, GENESYSCLOUD_OAUTHCLIENT_SECRET=secret)
    run = subprocess.run(
        [sys.executable, "-m", "iac_mcp", "serve"], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert run.returncode == 2
    assert "GENESYSCLOUD_OAUTHCLIENT_ID" in run.stderr and "GENESYSCLOUD_REGION" in run.stderr
    assert secret not in run.stderr + run.stdout
    assert "Traceback" not in run.stderr


def test_every_command_has_help() -> None:
    for command in ([], ["serve"], ["demo"], ["sandbox"]):
        run = subprocess.run(
            [sys.executable, "-m", "iac_mcp", *command, "--help"], capture_output=True, text=True, timeout=60, env=CLEAN_ENV
        )
        assert run.returncode == 0 and "usage: iac-mcp" in run.stdout, command


async def test_a_server_built_to_open_before_serving_stops_at_a_ledger_that_cannot_open(tmp_path: Path) -> None:
    """The default for in-process and HTTP servers: a broken ledger stops the server before it
    answers anything (uvicorn exits, a fleet's probe sees no replica), rather than refusing calls."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(LedgerConfigError, match="cannot be created"):
        async with connected(sandbox(), "auto", ledger=fresh_ledger(f"sqlite:///{blocker / 'ledger.sqlite3'}")):
            pass
