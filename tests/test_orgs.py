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
from mcp.types import CallToolResult, ElicitResult
from servers import CLEAN_ENV, ERAS, QUEUE_MODULE_NAME, accept_consent, fresh_ledger, server_settings, text_of
from starlette.applications import Starlette

from iac_mcp.demo import example_arguments
from iac_mcp.profiles import Profile
from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.orgs import integrations
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
    return str(result.structured_content["org"]).split(" ")[0]


@pytest.mark.parametrize("era", ERAS)
async def test_the_agent_sees_which_orgs_exist(era: str) -> None:
    async with connected(three_orgs(), era) as client:
        tools = (await client.list_tools()).tools
    for tool in tools:
        properties = tool.input_schema["properties"]
        if tool.name == "promote-job":
            assert properties["from_org"]["enum"] == properties["to_org"]["enum"] == list(ORGS)
            continue
        org = properties["org"]
        assert org["enum"] == list(ORGS) and org["default"] == "dev", tool.name
        assert org["x-mcp-header"] == "Org"
        assert "prod = Sandbox PROD (dry-run-only)" in org["description"]
    assert {tool.name for tool in tools} >= {"promote-job", "submit-job", "get-job"}
    promote = next(tool.annotations for tool in tools if tool.name == "promote-job")
    assert promote is not None and (promote.read_only_hint, promote.destructive_hint, promote.open_world_hint) == (False, False, True)


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


ORDER_STATUS = "e4b1c7a2-8d3f-4a6e-b5c9-0f1e2d3c4b5a"
"""The sandbox's data-action module whose integration_id names an integration of one org."""


def integration_of(org: str) -> str:
    return next(i.id for i in integrations(org) if i.name == "Genesys Cloud Data Actions")


async def proven_in_dev(client: Client) -> str:
    """A real run of the data-action module in dev, through plan, consent and apply: its job id."""
    arguments = {"accelerator_id": ORDER_STATUS, "parameters": {"integration_id": integration_of("dev")}, "org": "dev"}
    planned = await client.call_tool("submit-job", arguments)
    assert not planned.is_error, text_of(planned)
    token = planned.structured_content["plan_token"]  # type: ignore[index]
    applied = await client.call_tool("submit-job", {**arguments, "dry_run": False, "plan_token": token})
    assert not applied.is_error, text_of(applied)
    return str(applied.structured_content["job"]["id"])  # type: ignore[index]


@asynccontextmanager
async def promoting(app: Starlette, era: str, answer: Any = None) -> AsyncIterator[Client]:
    """A client that accepts real runs and, when `answer` is given, fills the promotion's form with it."""

    async def callback(context: Any, params: Any) -> Any:
        if "Promote" in params.message:
            return ElicitResult(action="accept", content=answer)
        return await accept_consent(context, params)

    server = build_server(upstreams(app), server_settings(signing_key=SIGNING_SECRET), ledger=fresh_ledger())
    options = {"elicitation_callback": callback} if answer is not None else {}
    async with Client(server, mode=era, **options) as client:
        yield client


@pytest.mark.parametrize("era", ERAS)
async def test_a_promotion_without_the_target_id_lists_exactly_what_is_needed(era: str) -> None:
    """A client that cannot be asked gets the list; the same ledger knows the dev job."""
    app = three_orgs()
    ledger = fresh_ledger()
    settings = server_settings(signing_key=SIGNING_SECRET)
    async with Client(build_server(upstreams(app), settings, ledger=ledger), mode=era, elicitation_callback=accept_consent) as client:
        job_id = await proven_in_dev(client)
    async with Client(build_server(upstreams(app), settings, ledger=ledger), mode=era) as client:
        refused = await client.call_tool("promote-job", {"job_id": job_id, "from_org": "dev", "to_org": "prod"})
    assert refused.is_error
    assert f"integration_id (was {integration_of('dev')})" in text_of(refused) and "Nothing was submitted" in text_of(refused)
    assert not [job for job in app.state.sandbox.jobs.values() if job.org == "prod"]


@pytest.mark.parametrize("era", ERAS)
async def test_dev_to_prod_with_a_supplied_integration_id_plans_both_side_by_side(era: str) -> None:
    app = three_orgs()
    async with promoting(app, era, answer={"integration_id": integration_of("prod")}) as client:
        job_id = await proven_in_dev(client)
        asked = await client.call_tool("promote-job", {"job_id": job_id, "from_org": "dev", "to_org": "prod"})
        given = await client.call_tool(
            "promote-job",
            {"job_id": job_id, "from_org": "dev", "to_org": "prod", "parameters": {"integration_id": integration_of("prod")}},
        )
        wrong = await client.call_tool(
            "promote-job",
            {"job_id": job_id, "from_org": "dev", "to_org": "prod", "parameters": {"integration_id": integration_of("dev")}},
        )
    for result in (asked, given):
        assert not result.is_error, text_of(result)
        promoted = result.structured_content
        assert promoted is not None and promoted["org"].startswith("prod (")
        assert promoted["source"]["org"] == "dev" and promoted["target"]["org"] == "prod"
        assert promoted["target"]["status"] == "Complete" and promoted["plan_token"]
        assert promoted["parameters"]["integration_id"] == integration_of("prod") and promoted["replaced"] == ["integration_id"]
        assert promoted["target"]["to_add"] == promoted["source"]["to_add"]
    assert wrong.structured_content is not None and wrong.structured_content["target"]["status"] == "Failed"
    assert "is Failed" in wrong.structured_content["next_step"]
    prod_jobs = [job for job in app.state.sandbox.jobs.values() if job.org == "prod"]
    assert prod_jobs and all(job.dry_run for job in prod_jobs), "a promotion changed prod"


async def test_only_our_successful_jobs_are_promoted() -> None:
    app = three_orgs()
    state = app.state.sandbox
    foreign = state.create_job(state.catalog[ORDER_STATUS], False, {"integration_id": integration_of("dev")})
    async with promoting(app, "auto", answer={"integration_id": integration_of("prod")}) as client:
        theirs = await client.call_tool("promote-job", {"job_id": foreign.id, "from_org": "dev", "to_org": "prod"})
        same = await client.call_tool("promote-job", {"job_id": foreign.id, "from_org": "dev", "to_org": "dev"})
    assert theirs.is_error and "not submitted through this server in dev" in text_of(theirs)
    assert same.is_error and "another org" in text_of(same)
