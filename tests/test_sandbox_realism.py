"""Sandbox behaviour that makes it disagree like Genesys would: real module shapes in the
output, permissions a job needs, validation in plan, the three history shapes, 409."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Sandbox
from test_sandbox_jobs import JOBS, SALESFORCE, SIMPLE_QUEUE, read, submit
from test_sandbox_platform import assert_genesys_error

from iac_mcp.sandbox.faults import status
from iac_mcp.sandbox.jobs import FAILURE_DEMO_ID
from iac_mcp.sandbox.serve import parser

CREATE_CASE = "salesforce-create-case-data-action-module.json"
IAC_PERMISSIONS = frozenset(
    {"infrastructureascode:accelerator:view", "infrastructureascode:job:add", "infrastructureascode:job:view"}
)


def only(real_specs_dir: Path, tmp_path: Path, name: str) -> dict[str, Any]:
    shutil.copy(real_specs_dir / name, tmp_path / name)
    return dict(json.loads((real_specs_dir / name).read_text()))


def test_a_data_action_module_plans_its_one_real_resource(
    real_specs_dir: Path, tmp_path: Path, start_sandbox: Callable[..., Sandbox]
) -> None:
    raw = only(real_specs_dir, tmp_path, CREATE_CASE)
    box = start_sandbox(catalog_dirs=[tmp_path], builtin_catalog=False)
    values = {"action_name": "Create Case", "action_category": "Salesforce", "integration_id": "int-42"}
    plan = read(box, submit(box, raw["id"], True, **values)["id"])["results"]
    address = "module.create_case_data_action_module.genesyscloud_integration_action.action"
    assert plan.startswith(
        "Initializing modules...\n- create_case_data_action_module in .terraform/modules/create_case_data_action_module"
    )
    assert f"# {address} will be created" in plan and plan.count("will be created") == 1
    for line in (
        'category       = "Salesforce"',
        'integration_id = "int-42"',
        'name           = "Create Case"',
        "secure         = false",
    ):
        assert line in plan
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in plan
    applied = read(box, submit(box, raw["id"], False, **values)["id"])["results"]
    assert f"{address}: Creation complete after 2s [id=" in applied


def test_hidden_result_entities_are_not_planned(tmp_path: Path, start_sandbox: Callable[..., Sandbox]) -> None:
    spec = {
        "id": str(uuid.uuid4()), "name": "Hidden helper", "type": "module", "origin": "community",
        "presentation": [
            {"title": "P", "schema": {"properties": [{"queue_name": {"type": "string"}}], "required": ["queue_name"]}}
        ],
        "results": {"entities": [{"type": "queue", "visibility": "VISIBLE"}, {"type": "flow", "visibility": "Hidden"}]},
    }  # fmt: skip
    (tmp_path / "hidden.json").write_text(json.dumps(spec))
    box = start_sandbox(catalog_dirs=[tmp_path], builtin_catalog=False)
    results = read(box, submit(box, spec["id"], True, queue_name="Q")["id"])["results"]
    assert "genesyscloud_routing_queue.q will be created" in results and "genesyscloud_flow" not in results
    assert "Plan: 1 to add" in results


# --- Permissions a job needs ---------------------------------------------------------------


@pytest.mark.parametrize(("dry_run", "status_"), [(True, "Failed"), (False, "RollbackComplete")])
def test_a_job_needing_a_permission_the_client_lacks_fails_in_terraform(
    start_sandbox: Callable[..., Sandbox], dry_run: bool, status_: str
) -> None:
    box = start_sandbox(client_permissions=IAC_PERMISSIONS | {"integrations:integration:add"})
    needed = set(box.state.catalog[SALESFORCE].spec.permissions) - box.state.settings.client_permissions  # type: ignore[operator]
    assert needed, "the Salesforce accelerator needs more than the IaC permissions"
    job = read(box, submit(box, SALESFORCE, dry_run, salesforce_client_id="id", salesforce_client_secret="s")["id"])
    assert job["status"] == status_
    for where in (job["results"], job["errorInfo"]["message"]):
        assert "API Error: 403" in where and all(p in where for p in needed)
    assert "Error: Failed to " in job["results"]
    assert ("rollbackResults" in job) is not dry_run
    if not dry_run:
        assert "Creation complete" not in job["results"] and "Destroy complete! Resources: 0 destroyed." in job["rollbackResults"]


def test_by_default_the_client_holds_every_permission(sandbox: Sandbox) -> None:
    job = read(sandbox, submit(sandbox, SALESFORCE, False, salesforce_client_id="id", salesforce_client_secret="s")["id"])
    assert job["status"] == "Complete"


def test_the_cli_reads_the_new_settings() -> None:
    args = parser().parse_args(
        ["--history-shape", "job", "--client-permissions", "a:b:c, d:e:f", "--validate-at", "plan", "--colour"]
    )
    assert (args.history_shape, args.client_permissions, args.validate_at, args.colour) == (
        "job",
        frozenset({"a:b:c", "d:e:f"}),
        "plan",
        True,
    )
    defaults = parser().parse_args([])
    assert (defaults.history_shape, defaults.client_permissions, defaults.validate_at, defaults.colour) == (
        "listing",
        None,
        "post",
        False,
    )


# --- Validation at plan time ---------------------------------------------------------------


@pytest.mark.parametrize("dry_run", [True, False])
def test_with_validate_at_plan_bad_parameters_are_accepted_and_fail_in_plan(
    start_sandbox: Callable[..., Sandbox], dry_run: bool
) -> None:
    box = start_sandbox(validate_at="plan")
    params = {"acw_timeout_ms": "soon", "skill_evaluation_method": "best", "colour": "red"}
    created = submit(box, SIMPLE_QUEUE, dry_run, **params)
    job = read(box, created["id"])
    assert created["status"] == "Created" and job["status"] == "Failed" and "rollbackResults" not in job
    results = job["results"]
    assert "Error: No value for required variable" in results and '"queue_name" is not set' in results
    assert results.count("Error: Invalid value for input variable") == 2 and "Error: Value for undeclared variable" in results
    assert "soon" not in results and "Plan:" not in results and "Creating..." not in results
    assert job["errorInfo"]["code"] == "job.failed" and "plan failed" in job["errorInfo"]["message"]


def test_with_validate_at_plan_good_parameters_still_complete(start_sandbox: Callable[..., Sandbox]) -> None:
    box = start_sandbox(validate_at="plan")
    assert read(box, submit(box, SIMPLE_QUEUE, True, queue_name="Q")["id"])["status"] == "Complete"


def test_with_validate_at_plan_a_malformed_body_is_still_a_400(start_sandbox: Callable[..., Sandbox]) -> None:
    box = start_sandbox(validate_at="plan")
    assert_genesys_error(box.client.post(JOBS, json={"acceleratorId": 5}), 400, "bad.request")


# --- History shapes and 409 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "unwrap"),
    [("listing", lambda b: b["entities"]), ("array", lambda b: b), ("job", lambda b: [b] if b else [])],
)
def test_history_shapes(start_sandbox: Callable[..., Sandbox], shape: str, unwrap: Callable[[Any], list[dict[str, Any]]]) -> None:
    box = start_sandbox(history_shape=shape)
    empty = box.client.get(JOBS).json()
    assert unwrap(empty) == [] and empty == {"listing": {"entities": []}, "array": [], "job": {}}[shape]
    ids = [submit(box, SIMPLE_QUEUE, True, queue_name=f"Q{i}")["id"] for i in range(3)]
    found = [j["id"] for j in unwrap(box.client.get(JOBS, params={"maxResults": 10}).json())]
    assert found == (list(reversed(ids)) if shape != "job" else [ids[-1]])


def test_a_409_fault_answers_a_genesys_conflict_and_creates_nothing(sandbox: Sandbox) -> None:
    sandbox.state.faults.add("create_job", status(409))
    body = {"acceleratorId": FAILURE_DEMO_ID, "parameters": [{"name": "queue_name", "value": "Q"}]}
    answer = assert_genesys_error(sandbox.client.post(JOBS, json=body), 409, "conflict")
    assert "conflicts with the current state" in str(answer["message"]) and sandbox.state.jobs_created == 0


def test_settings_refuse_unknown_shapes(start_sandbox: Callable[..., Sandbox]) -> None:
    with pytest.raises(ValueError, match="history_shape"):
        start_sandbox(history_shape="stream")
    with pytest.raises(ValueError, match="validate_at"):
        start_sandbox(validate_at="never")
