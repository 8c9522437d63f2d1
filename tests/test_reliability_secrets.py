"""Secrets: the OAuth client secret, the access token and the values of sensitive parameters
never show in anything a client or an operator can read, on the happy path or any failure
path, in-process or from a real stdio subprocess.

The sandbox's job output prints every value in clear, as real CX-as-Code modules do, so the
scan first proves the sensitive value really is in the output Genesys would send: what it
then proves absent is the server's masking, not the sandbox's politeness."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.context import ClientRequestContext
from mcp.client.stdio import stdio_client
from mcp.types import ElicitRequestParams, ElicitResult
from reliability import fast_connected
from servers import ERAS, QUEUE_MODULE_NAME, everything_in, parameters_of, sandbox, text_of
from starlette.applications import Starlette

from iac_mcp.demo import example_arguments
from iac_mcp.sandbox.faults import status
from iac_mcp.sandbox.serve import running_sandbox

pytestmark = pytest.mark.anyio

CLIENT_ID = "reliability-client"
CLIENT_SECRET = "client-secret-Zq8xW3vT1nB6"
SENSITIVE = "hunter2-Kp4rT9sV7mQ2"
SALESFORCE = "Salesforce"
FLOW_BOUND_SECONDS = 60


class Witness:
    """Everything a client saw: results, errors, progress, questions, resources, prompts."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def add(self, item: Any) -> None:
        self.seen.append(item.model_dump_json() if hasattr(item, "model_dump_json") else str(item))

    async def progress(self, value: float, total: float | None, message: str | None) -> None:
        self.add(message)

    async def consent(self, _: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.add(params)
        return ElicitResult(action="accept", content={"confirm": True})

    async def call(self, client: Client, tool: str, arguments: dict[str, Any]) -> Any:
        result = await client.call_tool(tool, arguments, progress_callback=self.progress)
        self.add(result)
        return result

    async def read(self, client: Client, uri: str) -> None:
        try:
            self.add(await client.read_resource(uri))
        except MCPError as error:
            self.add(error)


async def exercise(client: Client, witness: Witness) -> None:
    """Every flow, good and bad, with the sensitive value in the sensitive parameter."""
    listing = await witness.call(client, "list-accelerators", {"name": SALESFORCE})
    target = listing.structured_content["accelerators"][0]["id"]
    described = await witness.call(client, "describe-accelerator", {"accelerator_id": target})
    sensitive = [p["name"] for p in parameters_of(described.structured_content) if p["sensitive"]]
    assert sensitive, "the Salesforce accelerator has a sensitive parameter"
    params = example_arguments(described.structured_content["parameters_schema"], include_optional=True)
    params.update(dict.fromkeys(sensitive, SENSITIVE))

    planned = await witness.call(client, "submit-job", {"accelerator_id": target, "parameters": params})
    plan_id = planned.structured_content["job"]["id"]
    await witness.call(client, "get-job", {"job_id": plan_id, "wait_seconds": 5})
    applied = await witness.call(
        client,
        "submit-job",
        {"accelerator_id": target, "parameters": params, "dry_run": False, "plan_token": planned.structured_content["plan_token"]},
    )
    await witness.call(client, "get-job", {"job_id": applied.structured_content["job"]["id"], "wait_seconds": 5})

    wrong = {**params, "no_such_parameter": SENSITIVE, "retry_count": "lots"}
    await witness.call(client, "submit-job", {"accelerator_id": target, "parameters": wrong})
    failing = {**params, **dict.fromkeys(sensitive, f"{SENSITIVE} sandbox:fail")}
    failed = await witness.call(client, "submit-job", {"accelerator_id": target, "parameters": failing})
    failed_id = failed.structured_content["job"]["id"]
    await witness.call(client, "get-job", {"job_id": failed_id, "wait_seconds": 5})
    await witness.call(
        client,
        "submit-job",
        {"accelerator_id": target, "parameters": failing, "dry_run": False, "plan_token": failed.structured_content["plan_token"]},
    )
    await witness.call(client, "get-job", {"job_id": "00000000-0000-4000-8000-000000000000"})
    await witness.call(client, "describe-accelerator", {"accelerator_id": "00000000-0000-4000-8000-000000000000"})
    await witness.call(client, "list-jobs", {"max_results": 100})

    for job_id in (plan_id, failed_id, "00000000-0000-4000-8000-000000000000"):
        await witness.read(client, f"iac://jobs/{job_id}")
    await witness.read(client, f"iac://accelerators/{target}")
    witness.add(await client.get_prompt("troubleshoot-job", {"job_id": failed_id}))
    witness.add(await client.get_prompt("deploy-accelerator", {"goal": "a Salesforce lookup", "accelerator_id": target}))
    witness.add(await client.get_prompt("review-recent-jobs", {}))


def _secrets(app: Starlette) -> list[str]:
    tokens = list(app.state.sandbox.tokens)
    assert tokens, "the server logged in"
    return [CLIENT_SECRET, SENSITIVE, *tokens]


def _job_output(app: Starlette) -> list[str]:
    return [text or "" for job in app.state.sandbox.jobs.values() for text in job.results(False)]


def _assert_in_job_output(app: Starlette) -> None:
    """The raw output the server read really carries the sensitive value, in plan and apply text."""
    carrying = [text for text in _job_output(app) if SENSITIVE in text]
    assert any("Plan:" in text for text in carrying) and any("Apply complete!" in text for text in carrying)


def _assert_absent(secrets: list[str], places: dict[str, list[str]]) -> None:
    for where, texts in places.items():
        assert texts, f"nothing captured from {where}"
        for text in texts:
            for secret in secrets:
                assert secret not in text, f"a secret leaked into {where}: ...{text[max(0, text.find(secret) - 300):text.find(secret) + 60]}"


@pytest.mark.parametrize("era", ERAS)
async def test_no_secret_in_results_resources_prompts_logs_or_job_output(era: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app = sandbox(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    witness = Witness()
    with anyio.fail_after(FLOW_BOUND_SECONDS):
        async with fast_connected(app, era, elicitation_callback=witness.consent) as client:
            await exercise(client, witness)
            app.state.sandbox.faults.add("list_jobs", status(429, retry_after=600))
            await witness.call(client, "list-jobs", {})
    assert any("HTTP 429" in text for text in witness.seen) and any("HTTP 404" in text for text in witness.seen)
    _assert_in_job_output(app)
    _assert_absent(_secrets(app), {"results": witness.seen, "logs": [caplog.text]})


@pytest.mark.parametrize("era", ERAS)
async def test_no_secret_in_a_permission_failure(era: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app = sandbox(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, missing_permissions=frozenset({"infrastructureascode:job:add"}))
    witness = Witness()
    async with fast_connected(app, era) as client:
        described = await witness.call(client, "list-accelerators", {"name": SALESFORCE})
        target = described.structured_content["accelerators"][0]["id"]
        spec = await witness.call(client, "describe-accelerator", {"accelerator_id": target})
        params = {p["name"]: SENSITIVE for p in parameters_of(spec.structured_content) if p["type"] == "string"}
        params.update(example_arguments(spec.structured_content["parameters_schema"]))
        params.update({p["name"]: SENSITIVE for p in parameters_of(spec.structured_content) if p["sensitive"]})
        await witness.call(client, "submit-job", {"accelerator_id": target, "parameters": params})
    assert any("HTTP 403" in text for text in witness.seen)
    _assert_absent(_secrets(app), {"results": witness.seen, "logs": [caplog.text]})


async def test_no_secret_on_a_stdio_servers_stderr() -> None:
    """The real `iac-mcp serve` at DEBUG against a sandbox over HTTP with a known secret."""
    app = sandbox(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    witness = Witness()
    with running_sandbox(app=app) as url, tempfile.TemporaryFile("w+", encoding="utf-8") as stderr:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYSCLOUD_", "IAC_MCP_"))}
        env |= {
            "GENESYSCLOUD_API_REGION": url,
            "GENESYSCLOUD_OAUTHCLIENT_ID": CLIENT_ID,
            "GENESYSCLOUD_OAUTHCLIENT_SECRET": CLIENT_SECRET,
        }
        server = StdioServerParameters(command=sys.executable, args=["-m", "iac_mcp", "serve", "--log-level", "DEBUG"], env=env)
        with anyio.fail_after(FLOW_BOUND_SECONDS):
            async with Client(stdio_client(server, errlog=stderr), mode="auto", elicitation_callback=witness.consent) as client:
                await exercise(client, witness)
        stderr.seek(0)
        logged = stderr.read()
    assert "DEBUG" in logged and "/oauth/token" in logged, "the server logged its upstream traffic"
    _assert_in_job_output(app)
    _assert_absent(_secrets(app), {"results": witness.seen, "stderr": [logged]})


@pytest.mark.parametrize("era", ERAS)
async def test_a_job_submitted_elsewhere_is_masked_by_parameter_name(era: str) -> None:
    """A job this server never submitted: it cannot know the value, only the sensitive names."""
    app = sandbox()
    state = app.state.sandbox
    entry = next(e for e in state.catalog.values() if e.spec.name and SALESFORCE in e.spec.name)
    sensitive = [p.name for p in entry.form if p.sensitive]
    values = {p.name: "x" for p in entry.form if p.required and p.default is None} | dict.fromkeys(sensitive, SENSITIVE)
    jobs = [state.create_job(entry, dry_run, values) for dry_run in (True, False)]
    witness = Witness()
    async with fast_connected(app, era) as client:
        for job in jobs:
            await witness.call(client, "get-job", {"job_id": job.id})
            await witness.read(client, f"iac://jobs/{job.id}")
    assert all(SENSITIVE in job.results(False)[0] for job in jobs)
    _assert_absent([SENSITIVE], {"results": witness.seen})


async def test_a_wrongly_typed_sensitive_value_is_not_echoed() -> None:
    app = sandbox()
    async with fast_connected(app, "auto") as client:
        listing = await client.call_tool("list-accelerators", {"name": SALESFORCE})
        target = listing.structured_content["accelerators"][0]["id"]
        result = await client.call_tool(
            "submit-job", {"accelerator_id": target, "parameters": {"salesforce_client_secret": [SENSITIVE]}}
        )
        not_an_object = await client.call_tool("submit-job", {"accelerator_id": target, "parameters": [SENSITIVE]})
    assert result.is_error and SENSITIVE not in everything_in(result)
    assert "salesforce_client_secret" in text_of(result)
    assert not_an_object.is_error and SENSITIVE not in everything_in(not_an_object)
    assert "must be an object" in text_of(not_an_object)


async def test_a_foreign_jobs_secret_under_a_renamed_attribute_is_withheld(tmp_path: Path) -> None:
    """Real modules print `name = var.action_name`: masking by variable name misses `name`, and the
    value was never submitted through iac-mcp, so the free text is withheld, saying where to read it."""
    spec = {
        "id": "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d", "name": "Renaming Data Action Module", "type": "module",
        "presentation": [{"title": "P", "schema": {"type": "object", "required": ["action_name", "action_category", "integration_id"],
            "properties": [{"action_name": {"type": "string", "sensitive": "true"}}, {"action_category": {"type": "string"}},
                           {"integration_id": {"type": "string"}}]}}],
        "results": {"entities": [{"type": "dataAction", "visibility": "VISIBLE"}]},
    }  # fmt: skip
    (tmp_path / "renaming.json").write_text(json.dumps(spec))
    app = sandbox(catalog_dirs=[tmp_path], builtin_catalog=False)
    state = app.state.sandbox
    job = state.create_job(state.catalog[spec["id"]], True, {"action_name": SENSITIVE, "action_category": "c", "integration_id": "i"})
    assert f'name           = "{SENSITIVE}"' in job.results(False)[0]
    async with fast_connected(app, "auto") as client:
        read = await client.call_tool("get-job", {"job_id": job.id})
        listed = await client.call_tool("list-jobs", {})
        resource = await client.read_resource(f"iac://jobs/{job.id}")
    assert SENSITIVE not in everything_in(read) + everything_in(listed) + str(resource)
    assert "not submitted through iac-mcp" in everything_in(read)


async def test_a_submitted_secret_masks_its_own_job_and_no_other() -> None:
    """Remembered values mask the job they were submitted into, under any attribute name. On
    another caller's job they would mark where one caller's secret occurs in text another
    caller reads, and corrupt ordinary words: that job's queue keeps its name."""
    word = "routing-queue-7"
    app = sandbox()
    state = app.state.sandbox
    salesforce = next(e for e in state.catalog.values() if e.spec.name and SALESFORCE in e.spec.name)
    queue = next(e for e in state.catalog.values() if e.spec.name == QUEUE_MODULE_NAME)
    async with fast_connected(app, "auto") as client:
        described = await client.call_tool("describe-accelerator", {"accelerator_id": salesforce.spec.id})
        assert described.structured_content is not None
        parameters = example_arguments(described.structured_content["parameters_schema"])
        parameters |= {p.name: word for p in salesforce.form if p.sensitive}
        ours = await client.call_tool("submit-job", {"accelerator_id": salesforce.spec.id, "parameters": parameters})
        assert not ours.is_error, text_of(ours)
        theirs = state.create_job(queue, True, {"queue_name": word})
        read_ours = await client.call_tool("get-job", {"job_id": ours.structured_content["job"]["id"]})  # type: ignore[index]
        read_theirs = await client.call_tool("get-job", {"job_id": theirs.id})
    assert word in str(state.jobs[ours.structured_content["job"]["id"]].results(False))  # type: ignore[index]
    assert word not in everything_in(ours) + everything_in(read_ours)
    assert word in everything_in(read_theirs), "another job's output was masked with this job's secret"
