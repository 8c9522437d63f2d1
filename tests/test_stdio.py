"""`iac-mcp serve` as the real subprocess an MCP client launches, in both protocol eras."""

from __future__ import annotations

import subprocess
import sys

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.context import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult
from servers import CLEAN_ENV, ERAS, text_of

from iac_mcp.demo import example_arguments

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
