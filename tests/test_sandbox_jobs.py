"""Sandbox jobs over real HTTP: validation, lifecycle, Terraform-like results, triggers, history."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeClock, Sandbox
from test_sandbox_platform import assert_genesys_error

from iac_mcp.sandbox.catalog import load_catalog
from iac_mcp.sandbox.jobs import FAILURE_DEMO_ID, TRIGGERS
from iac_mcp.sandbox.spec import Parameter

JOBS = "/api/v2/infrastructureascode/jobs"
SIMPLE_QUEUE = "3b1c9d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
SALESFORCE = "8e2f6a14-5b3c-4d7e-a1f9-2c6b8d0e4f37"
SECRET = "Sf-Consumer-Secret-4f9b2c"


def submit(sandbox: Sandbox, accelerator_id: str, dry_run: bool = True, **values: str) -> dict[str, Any]:
    body = {"acceleratorId": accelerator_id, "dryRun": dry_run, "parameters": [{"name": k, "value": v} for k, v in values.items()]}
    answer = sandbox.client.post(JOBS, json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def read(sandbox: Sandbox, job_id: str, details: bool = True) -> dict[str, Any]:
    answer = sandbox.client.get(f"{JOBS}/{job_id}", params={"details": str(details).lower()})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def salesforce_job(sandbox: Sandbox, dry_run: bool, **extra: str) -> dict[str, Any]:
    values = {"salesforce_client_id": "3MVG9-consumer-key", "salesforce_client_secret": SECRET, **extra}
    return read(sandbox, submit(sandbox, SALESFORCE, dry_run, **values)["id"])


# --- Submission -----------------------------------------------------------------------


def test_post_answers_200_with_a_created_job(sandbox: Sandbox) -> None:
    job = submit(sandbox, SIMPLE_QUEUE, queue_name="Support")
    assert job["status"] == "Created" and job["dryRun"] is True and job["acceleratorId"] == SIMPLE_QUEUE
    assert str(uuid.UUID(job["id"])) == job["id"] and job["selfUri"] == f"{JOBS}/{job['id']}"
    assert job["submittedBy"] == {"id": sandbox.state.user_id, "selfUri": f"/api/v2/users/{sandbox.state.user_id}"}
    assert job["dateSubmitted"].endswith("Z") and "results" not in job
    assert sandbox.state.jobs_created == 1


def test_dry_run_defaults_to_false(sandbox: Sandbox) -> None:
    answer = sandbox.client.post(JOBS, json={"acceleratorId": SIMPLE_QUEUE, "parameters": [{"name": "queue_name", "value": "Q"}]})
    assert answer.json()["dryRun"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "acceleratorId"),
        ({"acceleratorId": 5}, "acceleratorId"),
        ({"acceleratorId": SIMPLE_QUEUE, "dryRun": "maybe"}, "dryRun"),
        ({"acceleratorId": SIMPLE_QUEUE, "parameters": [{"name": "queue_name"}]}, "parameters.0.value"),
        ([1, 2], "body"),
    ],
)
def test_malformed_bodies_answer_400_naming_the_field(sandbox: Sandbox, body: object, field: str) -> None:
    answer = assert_genesys_error(sandbox.client.post(JOBS, json=body), 400, "bad.request")
    assert field in [d["fieldName"] for d in answer["details"]]
    assert sandbox.state.jobs_created == 0


def test_invalid_json_answers_400(sandbox: Sandbox) -> None:
    answer = sandbox.client.post(JOBS, content=b"{nope", headers={"Content-Type": "application/json"})
    assert_genesys_error(answer, 400, "bad.request")


def test_unknown_accelerator_answers_400_naming_it(sandbox: Sandbox) -> None:
    missing = str(uuid.uuid4())
    body = assert_genesys_error(sandbox.client.post(JOBS, json={"acceleratorId": missing}), 400, "bad.request")
    assert missing in body["message"] and body["details"] == [{"errorCode": "not.found", "fieldName": "acceleratorId"}]


def test_every_parameter_problem_is_a_detail(sandbox: Sandbox) -> None:
    params = [
        {"name": "acw_timeout_ms", "value": "soon"},
        {"name": "skill_evaluation_method", "value": "SOME"},
        {"name": "colour", "value": "red"},
        {"name": "enable_transcription", "value": "yes"},
    ]
    body = assert_genesys_error(sandbox.client.post(JOBS, json={"acceleratorId": SIMPLE_QUEUE, "parameters": params}), 400, "bad.request")
    assert sorted((d["fieldName"], d["errorCode"]) for d in body["details"]) == [
        ("acw_timeout_ms", "wrong_type"),
        ("colour", "unknown"),
        ("enable_transcription", "wrong_type"),
        ("queue_name", "missing"),
        ("skill_evaluation_method", "not_allowed"),
    ]
    for name in ("acw_timeout_ms", "colour", "queue_name", "skill_evaluation_method", "enable_transcription"):
        assert name in body["message"]
    assert sandbox.state.jobs_created == 0


def test_duplicate_parameters_are_refused(sandbox: Sandbox) -> None:
    params = [{"name": "queue_name", "value": "A"}, {"name": "queue_name", "value": "B"}]
    body = assert_genesys_error(sandbox.client.post(JOBS, json={"acceleratorId": SIMPLE_QUEUE, "parameters": params}), 400, "bad.request")
    assert body["details"] == [{"errorCode": "duplicate", "fieldName": "queue_name"}]


def test_wrong_sensitive_value_is_not_echoed(sandbox: Sandbox) -> None:
    params = [{"name": "webhook_url", "value": "https://x"}, {"name": "webhook_api_key", "value": ""}]
    body = sandbox.client.post(JOBS, json={"acceleratorId": "9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d", "parameters": params}).json()
    assert body["details"] == [{"errorCode": "missing", "fieldName": "webhook_api_key"}]


def test_unknown_job_answers_404(sandbox: Sandbox) -> None:
    assert_genesys_error(sandbox.client.get(f"{JOBS}/{uuid.uuid4()}"), 404, "resource.not.found")
    assert_genesys_error(sandbox.client.get(f"{JOBS}/x", params={"details": "sure"}), 400, "bad.request")


# --- Lifecycle and results -----------------------------------------------------------------


def test_status_follows_the_clock(start_sandbox: Callable[..., Sandbox], fake_clock: FakeClock) -> None:
    box = start_sandbox(clock=fake_clock, job_duration=10)
    job_id = submit(box, SIMPLE_QUEUE, dry_run=False, queue_name="Billing")["id"]
    seen = []
    for step in (0, 0.5, 0.75, 2.5, 0.5, 5.5, 0.25, 100):  # exact binary fractions
        fake_clock.advance(step)
        job = read(box, job_id)
        seen.append(job["status"])
        assert ("results" in job) == (job["status"] == "Complete")
    assert seen == ["Created", "Created", "Queued", "Queued", "Running", "Running", "Complete", "Complete"]


def test_date_submitted_moves_with_the_clock(start_sandbox: Callable[..., Sandbox], fake_clock: FakeClock) -> None:
    box = start_sandbox(clock=fake_clock)
    first = submit(box, SIMPLE_QUEUE, queue_name="A")["dateSubmitted"]
    fake_clock.advance(90)
    second = submit(box, SIMPLE_QUEUE, queue_name="B")["dateSubmitted"]
    assert first < second


def test_details_false_omits_results_and_errors(sandbox: Sandbox) -> None:
    job_id = submit(sandbox, FAILURE_DEMO_ID, dry_run=False, queue_name="Q", outcome="rollback-complete")["id"]
    brief = read(sandbox, job_id, details=False)
    assert brief["status"] == "RollbackComplete"
    assert not {"results", "rollbackResults", "errorInfo"} & set(brief)
    assert sandbox.client.get(f"{JOBS}/{job_id}").json() == brief
    full = read(sandbox, job_id)
    assert {"results", "rollbackResults", "errorInfo"} <= set(full)


def test_dry_run_renders_init_then_a_plan_with_every_value_in_clear(sandbox: Sandbox) -> None:
    """As real CX-as-Code modules do: none marks a variable sensitive, so secrets print too."""
    job = salesforce_job(sandbox, dry_run=True)
    results = job["results"]
    assert job["status"] == "Complete" and "errorInfo" not in job and "rollbackResults" not in job
    assert results.index("Terraform has been successfully initialized!") < results.index("Terraform will perform the following actions:")
    for kind in ("genesyscloud_integration", "genesyscloud_integration_credential", "genesyscloud_integration_action"):
        assert f'+ resource "{kind}" "salesforce_data_actions" {{' in results
        assert f"# {kind}.salesforce_data_actions will be created" in results
    assert 'salesforce_client_id     = "3MVG9-consumer-key"' in results
    assert f'salesforce_client_secret = "{SECRET}"' in results
    assert "request_timeout_seconds  = 5.5" in results and "secure_data_action       = false" in results
    assert results.rstrip().endswith("Plan: 3 to add, 0 to change, 0 to destroy.")
    assert "Apply complete" not in results


def test_real_run_renders_apply_output(sandbox: Sandbox) -> None:
    job = salesforce_job(sandbox, dry_run=False)
    results = job["results"]
    assert "genesyscloud_integration.salesforce_data_actions: Creating..." in results
    assert results.count("Creation complete after 2s [id=") == 3
    assert "Apply complete! Resources: 3 added, 0 changed, 0 destroyed." in results
    outputs = results.split("Outputs:")[1]
    assert outputs.count(" = \"") == 3 and SECRET not in outputs


def test_colour_is_optional(start_sandbox: Callable[..., Sandbox]) -> None:
    plain = salesforce_job(start_sandbox(), dry_run=False)["results"]
    coloured = salesforce_job(start_sandbox(ansi_colour=True), dry_run=False)["results"]
    assert "\x1b[" not in plain and "\x1b[32m+\x1b[0m" in coloured
    assert "Apply complete! Resources: 3 added" in coloured and "\x1b[1mInitializing modules...\x1b[0m" in coloured


EXPECTED = {
    # trigger: (dry-run status, real-run status)
    "sandbox:fail": ("Failed", "Failed"),
    "sandbox:fail-rollback": ("Complete", "RollbackComplete"),
    "sandbox:fail-rollback-failed": ("Complete", "RollbackFailed"),
    "sandbox:incomplete": ("Incomplete", "Incomplete"),
    "sandbox:internal-error": ("InternalError", "InternalError"),
}


def test_every_trigger_is_tested() -> None:
    assert {trigger for trigger, _ in TRIGGERS} == set(EXPECTED)


def check_failure(job: dict[str, Any], status: str, dry_run: bool) -> None:
    assert job["status"] == status
    if status == "Complete":
        assert "Plan: 3 to add" in job["results"] and "errorInfo" not in job
        return
    assert job["errorInfo"]["code"] and job["errorInfo"]["message"]
    assert ("rollbackResults" in job) == status.startswith("Rollback")
    if status in ("Failed", "RollbackComplete", "RollbackFailed"):
        assert "Error: " in job["results"] and "Apply complete" not in job["results"]
    if status == "Incomplete" and not dry_run:
        assert "Creation complete" in job["results"] and "Apply complete" not in job["results"]
    if status == "InternalError":
        assert job["results"] == ""
    else:
        assert job["results"].startswith("Initializing modules...")
    if status == "RollbackComplete":
        assert "Destroy complete! Resources: 2 destroyed." in job["rollbackResults"]
        assert "Destroying..." in job["rollbackResults"]
    if status == "RollbackFailed":
        assert "Error: rollback failed" in job["rollbackResults"]


@pytest.mark.parametrize("trigger", sorted(EXPECTED))
@pytest.mark.parametrize("dry_run", [True, False])
@pytest.mark.parametrize("carrier", ["action_category", "salesforce_client_secret"])
def test_triggers(sandbox: Sandbox, trigger: str, dry_run: bool, carrier: str) -> None:
    value = f"x {trigger} {SECRET}" if carrier == "salesforce_client_secret" else f"Sales {trigger}"
    job = salesforce_job(sandbox, dry_run, **{carrier: value})
    check_failure(job, EXPECTED[trigger][0 if dry_run else 1], dry_run)
    assert SECRET not in str(job.get("errorInfo")), "errors name the parameter, never its value"


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        ("complete", "Complete"), ("failed", "Failed"), ("rollback-complete", "RollbackComplete"),
        ("rollback-failed", "RollbackFailed"), ("incomplete", "Incomplete"), ("internal-error", "InternalError"),
    ],
)
def test_failure_demo_outcomes(sandbox: Sandbox, outcome: str, status: str) -> None:
    plan = read(sandbox, submit(sandbox, FAILURE_DEMO_ID, dry_run=True, queue_name="Demo Queue", outcome=outcome)["id"])
    assert plan["status"] == "Complete" and "Plan: 1 to add" in plan["results"]
    job = read(sandbox, submit(sandbox, FAILURE_DEMO_ID, dry_run=False, queue_name="Demo Queue", outcome=outcome)["id"])
    if status == "Complete":
        assert job["status"] == "Complete" and "errorInfo" not in job
        assert "Apply complete! Resources: 1 added" in job["results"]
    else:
        assert job["status"] == status and job["errorInfo"]["message"]
        assert ("rollbackResults" in job) == status.startswith("Rollback")


def test_demo_defaults_to_complete(sandbox: Sandbox) -> None:
    assert read(sandbox, submit(sandbox, FAILURE_DEMO_ID, queue_name="Q")["id"])["status"] == "Complete"


def test_job_ids_replay_with_the_seed(start_sandbox: Callable[..., Sandbox]) -> None:
    def ids(seed: int) -> list[str]:
        box = start_sandbox(seed=seed)
        return [submit(box, SIMPLE_QUEUE, queue_name=f"Q{i}")["id"] for i in range(3)]

    assert ids(7) == ids(7) != ids(8)


# --- History ---------------------------------------------------------------------------------


@pytest.fixture
def history(start_sandbox: Callable[..., Sandbox], fake_clock: FakeClock) -> tuple[Sandbox, list[dict[str, Any]]]:
    """Four jobs a minute apart: two queue dry runs, a failed demo, a complete demo apply."""
    box = start_sandbox(clock=fake_clock, job_duration=30)
    jobs = []
    for accelerator, values in (
        (SIMPLE_QUEUE, {"queue_name": "A"}),
        (FAILURE_DEMO_ID, {"queue_name": "B", "outcome": "failed"}),
        (SIMPLE_QUEUE, {"queue_name": "C"}),
        (FAILURE_DEMO_ID, {"queue_name": "D"}),
    ):
        jobs.append(submit(box, accelerator, accelerator == SIMPLE_QUEUE, **values))
        fake_clock.advance(60)
    fake_clock.advance(-55)  # the last job is now Queued (5 s of 30), the others terminal
    return box, jobs


def listing(box: Sandbox, **params: object) -> list[dict[str, Any]]:
    answer = box.client.get(JOBS, params=params)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"entities"}
    return list(answer.json()["entities"])


def test_history_defaults_to_the_latest_job(history: tuple[Sandbox, list[dict[str, Any]]]) -> None:
    box, jobs = history
    [latest] = listing(box)
    assert latest["id"] == jobs[-1]["id"] and latest["status"] == "Queued"
    assert not {"results", "errorInfo", "rollbackResults"} & set(latest)


def test_history_max_results_and_order(history: tuple[Sandbox, list[dict[str, Any]]]) -> None:
    box, jobs = history
    assert [j["id"] for j in listing(box, maxResults=10)] == [j["id"] for j in reversed(jobs)]
    assert [j["id"] for j in listing(box, maxResults=2, sortOrder="asc")] == [jobs[0]["id"], jobs[1]["id"]]


@pytest.mark.parametrize("sort_by", ["id", "dateSubmitted", "submittedBy", "acceleratorId", "status"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_history_sorting(history: tuple[Sandbox, list[dict[str, Any]]], sort_by: str, order: str) -> None:
    box, _ = history
    found = listing(box, maxResults=10, sortBy=sort_by, sortOrder=order)
    keys = [str(j[sort_by]["id"] if sort_by == "submittedBy" else j[sort_by]) for j in found]
    assert len(found) == 4 and keys == sorted(keys, reverse=order == "desc")


def test_history_filters(history: tuple[Sandbox, list[dict[str, Any]]]) -> None:
    box, jobs = history
    assert {j["id"] for j in listing(box, maxResults=10, acceleratorId=SIMPLE_QUEUE)} == {jobs[0]["id"], jobs[2]["id"]}
    assert [j["id"] for j in listing(box, maxResults=10, status="failed")] == [jobs[1]["id"]]
    assert [j["id"] for j in listing(box, maxResults=10, status="Queued")] == [jobs[3]["id"]]
    assert len(listing(box, maxResults=10, submittedBy=box.state.user_id)) == 4
    assert listing(box, maxResults=10, submittedBy=str(uuid.uuid4())) == []


def test_history_include_errors(history: tuple[Sandbox, list[dict[str, Any]]]) -> None:
    box, jobs = history
    failed = listing(box, status="Failed", includeErrors="true")[0]
    assert failed["errorInfo"]["code"] == "job.failed" and "results" not in failed
    assert "errorInfo" not in listing(box, status="Failed", includeErrors="false")[0]


@pytest.mark.parametrize(
    "params",
    [{"maxResults": 0}, {"maxResults": "all"}, {"sortBy": "name"}, {"sortOrder": "newest"}, {"status": "Done"}, {"includeErrors": "1"}],
)
def test_history_rejects_invalid_parameters(sandbox: Sandbox, params: dict[str, object]) -> None:
    body = assert_genesys_error(sandbox.client.get(JOBS, params=params), 400, "bad.request")
    assert body["details"][0]["fieldName"] == next(iter(params))


# --- Real specifications ---------------------------------------------------------------------


def sample_value(parameter: Parameter) -> str:
    if parameter.enum:
        return parameter.enum[0]
    return {"boolean": "true", "integer": "3", "number": "2.5"}.get(parameter.type, f"sandbox {parameter.name}")


def test_shadowed_duplicate_spec_dry_run_completes(real_specs_dir: Path, tmp_path: Path, start_sandbox: Callable[..., Sandbox]) -> None:
    """The older-format file that loses the duplicate id still works when served on its own."""
    name = "public-api-get-conversationEnd-data-action-module.json"
    (tmp_path / name).write_text((real_specs_dir / name).read_text())
    box = start_sandbox(catalog_dirs=[tmp_path], builtin_catalog=False)
    [entry] = box.state.catalog.values()
    values = {"action_name": "End", "action_category": "Public API", "integration_id": "abc"}
    job = read(box, submit(box, entry.spec.id, True, **values)["id"])
    assert job["status"] == "Complete" and "No changes." in job["results"]


def test_every_real_spec_dry_run_completes(real_specs_dir: Path, start_sandbox: Callable[..., Sandbox]) -> None:
    box = start_sandbox(catalog_dirs=[real_specs_dir], builtin_catalog=False)
    catalog = load_catalog([real_specs_dir])
    assert len(catalog) == 61
    for accelerator_id, entry in catalog.items():
        values = {p.name: sample_value(p) for p in entry.form if p.required and p.default is None}
        job = read(box, submit(box, accelerator_id, True, **values)["id"])
        assert job["status"] == "Complete", (entry.source.name, job)
        assert "Plan:" in job["results"] or "No changes." in job["results"]
    assert box.state.jobs_created == 61
