"""Several orgs in one server: each tool per org, every result naming its org, plans bound
to the org they ran in, a profile's mode bounding what runs there.

Three orgs of one sandbox host (dev, test, prod), told apart by OAuth client as in Genesys;
prod is dry-run-only. In-process for both eras, then over stdio and streamable HTTP.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
from http_support import http_client, running_http
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult
from servers import CLEAN_ENV, ERAS, QUEUE_MODULE_NAME, accept_consent, fresh_ledger, server_settings, text_of
from starlette.applications import Starlette

from iac_mcp.demo import example_arguments
from iac_mcp.profiles import Profile
from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.settings import SandboxSettings, named_orgs
from iac_mcp.server.app import OrgUpstream, build_server
from iac_mcp.settings import Mode
from iac_mcp.transports.http import create_app as create_http_app
from iac_mcp.upstream import sandbox_client

pytestmark = pytest.mark.anyio

ORGS = ("dev", "test", "prod")
SIGNING_SECRET = "orgs-test-signing-secret-0123456789abcdef"


def three_orgs() -> Starlette:
    return create_app(SandboxSettings(job_duration=0, orgs=named_orgs(ORGS)))


def upstreams(app: Starlette) -> list[OrgUpstream]:
    modes = {"prod": Mode.DRY_RUN_ONLY}
    return [
        OrgUpstream(
            Profile(name, f"Sandbox {name.upper()}", modes.get(name, Mode.APPLY), sandbox_org=name),
            partial(sandbox_client, app, org=name),
        )
        for name in ORGS
    ]


@asynccontextmanager
async def connected(app: Starlette, era: str) -> AsyncIterator[Client]:
    server = build_server(upstreams(app), server_settings(signing_key=SIGNING_SECRET), ledger=fresh_ledger())
    async with Client(server, mode=era, elicitation_callback=accept_consent) as client:
        yield client


async def queue_arguments(client: Client, org: str) -> dict[str, Any]:
    listing = await client.call_tool("list-accelerators", {"name": QUEUE_MODULE_NAME, "org": org})
    assert listing.structured_content is not None
    accelerator = listing.structured_content["accelerators"][0]["id"]
    described = await client.call_tool("describe-accelerator", {"accelerator_id": accelerator, "org": org})
    assert described.structured_content is not None
    return {"accelerator_id": accelerator, "parameters": example_arguments(described.structured_content["parameters_schema"])}


def org_of(result: CallToolResult) -> str:
    assert result.structured_content is not None, text_of(result)
    return str(result.structured_content["org"]["name"])


@pytest.mark.parametrize("era", ERAS)
async def test_the_agent_sees_which_orgs_exist(era: str) -> None:
    async with connected(three_orgs(), era) as client:
        tools = (await client.list_tools()).tools
    for tool in tools:
        org = tool.input_schema["properties"]["org"]
        assert org["enum"] == list(ORGS) and org["default"] == "dev", tool.name
        assert org["x-mcp-header"] == "Org"
        assert "prod = Sandbox PROD (dry-run-only)" in org["description"]


@pytest.mark.parametrize("era", ERAS)
async def test_each_tool_acts_on_the_org_it_names_and_says_so(era: str) -> None:
    app = three_orgs()
    async with connected(app, era) as client:
        for org in ORGS:
            arguments = await queue_arguments(client, org)
            planned = await client.call_tool("submit-job", {**arguments, "org": org})
            assert org_of(planned) == org and text_of(planned).startswith(f"Org: {org} (Sandbox {org.upper()}, ")
            job_id = planned.structured_content["job"]["id"]  # type: ignore[index]
            read = await client.call_tool("get-job", {"job_id": job_id, "org": org})
            listed = await client.call_tool("list-jobs", {"org": org})
            assert org_of(read) == org_of(listed) == org
            assert [job["id"] for job in listed.structured_content["jobs"]] == [job_id]  # type: ignore[index]
        elsewhere = await client.call_tool("get-job", {"job_id": job_id, "org": "dev"})
        default = await client.call_tool("list-jobs", {})
    assert elsewhere.is_error, "a prod job was found through dev's client"
    assert org_of(default) == "dev"
    jobs_by_org = {job.org for job in app.state.sandbox.jobs.values()}
    assert jobs_by_org == set(ORGS)


@pytest.mark.parametrize("era", ERAS)
async def test_a_dev_plan_never_backs_a_run_elsewhere(era: str) -> None:
    app = three_orgs()
    async with connected(app, era) as client:
        arguments = await queue_arguments(client, "dev")
        planned = await client.call_tool("submit-job", {**arguments, "org": "dev"})
        token = planned.structured_content["plan_token"]  # type: ignore[index]
        refused = await client.call_tool("submit-job", {**arguments, "org": "test", "dry_run": False, "plan_token": token})
        applied = await client.call_tool("submit-job", {**arguments, "org": "dev", "dry_run": False, "plan_token": token})
    assert refused.is_error and "another org" in text_of(refused), text_of(refused)
    assert not applied.is_error, text_of(applied)
    assert org_of(applied) == "dev"
    real = [job for job in app.state.sandbox.jobs.values() if not job.dry_run]
    assert [job.org for job in real] == ["dev"]


@pytest.mark.parametrize("era", ERAS)
async def test_a_dry_run_only_prod_refuses_real_runs_while_dev_applies(era: str) -> None:
    app = three_orgs()
    async with connected(app, era) as client:
        arguments = await queue_arguments(client, "prod")
        planned = await client.call_tool("submit-job", {**arguments, "org": "prod"})
        assert not planned.is_error, text_of(planned)
        token = planned.structured_content["plan_token"]  # type: ignore[index]
        refused = await client.call_tool("submit-job", {**arguments, "org": "prod", "dry_run": False, "plan_token": token})
    assert refused.is_error and "prod" in text_of(refused) and "dry-run-only" in text_of(refused), text_of(refused)
    assert not [job for job in app.state.sandbox.jobs.values() if not job.dry_run]


async def test_an_org_that_is_not_a_profile_is_refused_with_the_list() -> None:
    async with connected(three_orgs(), "auto") as client:
        result = await client.call_tool("list-jobs", {"org": "staging\u202e"})
    assert result.is_error
    assert "dev, test, prod" in text_of(result) and "\u202e" not in text_of(result)


async def test_the_consent_question_names_the_org() -> None:
    questions: list[str] = []

    async def answer(context: Any, params: Any) -> Any:
        questions.append(params.message)
        return await accept_consent(context, params)

    app = three_orgs()
    server = build_server(upstreams(app), server_settings(signing_key=SIGNING_SECRET), ledger=fresh_ledger())
    async with Client(server, mode="auto", elicitation_callback=answer) as client:
        arguments = await queue_arguments(client, "test")
        planned = await client.call_tool("submit-job", {**arguments, "org": "test"})
        token = planned.structured_content["plan_token"]  # type: ignore[index]
        applied = await client.call_tool("submit-job", {**arguments, "org": "test", "dry_run": False, "plan_token": token})
    assert not applied.is_error, text_of(applied)
    assert questions and 'org at "test (Sandbox TEST, http' in questions[0].splitlines()[0]


async def test_three_orgs_over_stdio() -> None:
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "iac_mcp", "serve", "--sandbox", "--sandbox-orgs", ",".join(ORGS), "--job-duration", "0"],
        env=CLEAN_ENV,
    )
    async with Client(parameters, mode="auto") as client:
        results = {org: await client.call_tool("list-jobs", {"org": org}) for org in ORGS}
        tools = (await client.list_tools()).tools
    assert {org: org_of(result) for org, result in results.items()} == {org: org for org in ORGS}
    assert tools[0].input_schema["properties"]["org"]["enum"] == list(ORGS)


@pytest.mark.parametrize("era", ERAS)
async def test_three_orgs_over_http(era: str) -> None:
    app = three_orgs()
    settings = server_settings(signing_key=SIGNING_SECRET, http_tokens=("orgs-test-bearer-token-0123456789abcdef",))
    http_app = create_http_app(upstreams(app), settings, ledger=fresh_ledger())
    with running_http(http_app) as url:
        async with http_client(url, era, token="orgs-test-bearer-token-0123456789abcdef") as client:
            arguments = await queue_arguments(client, "test")
            planned = await client.call_tool("submit-job", {**arguments, "org": "test"})
            listed = await client.call_tool("list-jobs", {"org": "test"})
    assert org_of(planned) == org_of(listed) == "test"
    assert json.dumps(listed.structured_content).count(planned.structured_content["job"]["id"]) == 1  # type: ignore[index]
