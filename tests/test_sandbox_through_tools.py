"""The MCP tools against the sandbox's less agreeable settings: every history shape (listing
and reconciliation after a lost answer), job-time permission failures, validation in plan."""

from __future__ import annotations

from typing import Any

import pytest
import servers

from iac_mcp.sandbox.faults import drop_after
from iac_mcp.sandbox.settings import HISTORY_SHAPES
from iac_mcp.sandbox.validation import Problem
from iac_mcp.settings import ConsentPolicy

pytestmark = pytest.mark.anyio

SIMPLE_QUEUE = "3b1c9d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
SALESFORCE = "8e2f6a14-5b3c-4d7e-a1f9-2c6b8d0e4f37"
IAC_PERMISSIONS = frozenset(
    {"infrastructureascode:accelerator:view", "infrastructureascode:job:add", "infrastructureascode:job:view"}
)


def submit(accelerator_id: str, **parameters: Any) -> dict[str, Any]:
    return {"accelerator_id": accelerator_id, "parameters": parameters}


@pytest.mark.parametrize("shape", HISTORY_SHAPES)
async def test_list_jobs_and_reconciliation_under_every_history_shape(shape: str) -> None:
    app = servers.sandbox(history_shape=shape)
    async with servers.connected(app, "auto") as client:
        first = await client.call_tool("submit-job", submit(SIMPLE_QUEUE, queue_name="A"))
        app.state.sandbox.faults.add("create_job", drop_after())
        lost = await client.call_tool("submit-job", submit(SIMPLE_QUEUE, queue_name="B"))
        listed = await client.call_tool("list-jobs", {"max_results": 10})
    assert not first.is_error and not lost.is_error, servers.text_of(lost)
    assert "found in the history" in lost.structured_content["note"]
    state = app.state.sandbox
    assert state.jobs_created == 2 and lost.structured_content["job"]["id"] in state.jobs
    ids = [job["id"] for job in listed.structured_content["jobs"]]
    expected = [lost.structured_content["job"]["id"], first.structured_content["job"]["id"]]
    assert not listed.is_error and ids == (expected if shape != "job" else expected[:1])


@pytest.mark.parametrize("dry_run", [True, False])
async def test_get_job_reports_a_job_time_permission_failure_naming_it(dry_run: bool) -> None:
    app = servers.sandbox(client_permissions=IAC_PERMISSIONS)
    missing = app.state.sandbox.catalog[SALESFORCE].spec.permissions
    arguments = submit(SALESFORCE, salesforce_client_id="key", salesforce_client_secret="s3cret-value")
    waived = servers.server_settings(consent=ConsentPolicy.PLAN_TOKEN)
    async with servers.connected(app, "auto", settings=waived) as client:
        job_id = (await client.call_tool("submit-job", arguments)).structured_content["job"]["id"]
        read = await client.call_tool("get-job", {"job_id": job_id})
        if not dry_run:
            app.state.sandbox.settings.client_permissions = None  # the plan may pass once granted
            plan = await client.call_tool("submit-job", arguments)
            await client.call_tool("get-job", {"job_id": plan.structured_content["job"]["id"]})
            app.state.sandbox.settings.client_permissions = IAC_PERMISSIONS
            applied = await client.call_tool(
                "submit-job", {**arguments, "dry_run": False, "plan_token": plan.structured_content["plan_token"]}
            )
            read = await client.call_tool("get-job", {"job_id": applied.structured_content["job"]["id"]})
    view = read.structured_content
    assert view["status"] == ("Failed" if dry_run else "RollbackComplete") and not view["succeeded"]
    said = servers.text_of(read)
    assert "403" in said and all(permission in said for permission in missing)
    assert any("403" in error["detail"] for error in view["terraform"]["errors"])


async def test_with_validate_at_plan_the_tools_still_refuse_bad_parameters_before_sending() -> None:
    app = servers.sandbox(validate_at="plan")
    async with servers.connected(app, "auto") as client:
        refused = await client.call_tool("submit-job", submit(SIMPLE_QUEUE, queue_name="Q", acw_timeout_ms="soon"))
    assert refused.is_error and app.state.sandbox.requests["create_job"] == 0


async def test_get_job_explains_a_job_that_failed_validation_in_plan() -> None:
    """What Genesys may do instead of a 400: accept the job and fail it in plan."""
    app = servers.sandbox(validate_at="plan")
    state = app.state.sandbox
    problems = [Problem("queue_name", "missing", "'queue_name' is required.")]
    job = state.create_job(state.catalog[SIMPLE_QUEUE], True, {}, problems)
    async with servers.connected(app, "auto") as client:
        read = await client.call_tool("get-job", {"job_id": job.id})
    view = read.structured_content
    assert view["status"] == "Failed" and view["terminal"] and not view["succeeded"]
    assert [e["summary"] for e in view["terraform"]["errors"]] == ["No value for required variable"]
    assert "queue_name" in servers.text_of(read) or "queue_name" in view["results"]["text"]
