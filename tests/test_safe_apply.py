"""Plan before apply, consent through elicitation, modes, and never submitting twice."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult
from servers import (
    ERAS,
    QUEUE_MODULE_NAME,
    SIGNING_KEY,
    all_descriptions,
    connected,
    everything_in,
    parameters_of,
    sandbox,
    server_settings,
    submit_example,
    text_of,
)

from iac_mcp.demo import example_arguments
from iac_mcp.profiles import DEFAULT_PROFILE
from iac_mcp.server.services import org_key
from iac_mcp.upstream import sandbox_origin
from iac_mcp.logic.plan_token import issue_plan_token
from iac_mcp.sandbox.faults import drop, drop_after, garbled
from iac_mcp.settings import ConsentPolicy

pytestmark = pytest.mark.anyio



@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    return request.param


class Elicitations:
    """A client-side elicitation callback that answers as told and records the questions."""

    def __init__(self, action: str = "accept", confirm: bool = True) -> None:
        self.action = action
        self.confirm = confirm
        self.questions: list[ElicitRequestParams] = []

    async def __call__(self, _: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.questions.append(params)
        content = {"confirm": self.confirm} if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)


async def _target(client: Client, predicate: Any = None) -> dict[str, Any]:
    descriptions = await all_descriptions(client)
    for d in descriptions:
        if (predicate is None and d["name"] == QUEUE_MODULE_NAME) or (predicate is not None and predicate(d)):
            return d
    raise AssertionError("no accelerator fits")


async def _planned(client: Client, target: dict[str, Any], params: dict[str, Any]) -> tuple[str, str]:
    """Dry-run and wait: (plan job id, plan token)."""
    submitted = await client.call_tool("submit-job", {"accelerator_id": target["id"], "parameters": params})
    assert not submitted.is_error, text_of(submitted)
    job_id = submitted.structured_content["job"]["id"]
    done = await client.call_tool("get-job", {"job_id": job_id, "wait_seconds": 10})
    assert done.structured_content["terminal"], text_of(done)
    return job_id, submitted.structured_content["plan_token"]


async def _apply(client: Client, target: dict[str, Any], params: dict[str, Any], token: str | None):  # type: ignore[no-untyped-def]
    arguments = {"accelerator_id": target["id"], "parameters": params, "dry_run": False}
    if token is not None:
        arguments["plan_token"] = token
    return await client.call_tool("submit-job", arguments)


async def test_real_run_with_the_plan_token_and_consent(era: str) -> None:
    app = sandbox()
    answers = Elicitations()
    async with connected(app, era, elicitation_callback=answers) as client:
        target = await _target(client, lambda d: any(p["sensitive"] for p in parameters_of(d)))
        params = example_arguments(target["parameters_schema"], include_optional=True)
        secret = next(p["name"] for p in parameters_of(target) if p["sensitive"] and p["type"] == "string")
        params[secret] = "hunter2-very-secret"
        _, token = await _planned(client, target, params)
        applied = await _apply(client, target, params, token)
    assert not applied.is_error, text_of(applied)
    assert applied.structured_content["submitted"] is True
    assert applied.structured_content["job"]["dry_run"] is False
    assert len(answers.questions) == 1
    question = answers.questions[0].message
    assert target["name"] in question and "to add" in question
    assert secret in question and "hunter2-very-secret" not in question and "********" in question
    assert app.state.sandbox.jobs_created == 2


@pytest.mark.parametrize(("action", "confirm", "word"), [("decline", True, "declined"), ("cancel", True, "cancelled"), ("accept", False, "declined")])
async def test_declined_or_cancelled_consent_submits_nothing(era: str, action: str, confirm: bool, word: str) -> None:
    app = sandbox()
    async with connected(app, era, elicitation_callback=Elicitations(action, confirm)) as client:
        target = await _target(client)
        params = example_arguments(target["parameters_schema"])
        _, token = await _planned(client, target, params)
        result = await _apply(client, target, params, token)
    assert not result.is_error
    assert result.structured_content["submitted"] is False and "job" not in result.structured_content  # a None field is omitted
    assert word in text_of(result) and "Nothing was submitted" in text_of(result)
    assert app.state.sandbox.jobs_created == 1


async def test_with_the_plan_token_policy_the_token_alone_guards(era: str) -> None:
    app = sandbox()
    async with connected(app, era, settings=server_settings(consent=ConsentPolicy.PLAN_TOKEN)) as client:
        target = await _target(client)
        params = example_arguments(target["parameters_schema"])
        _, token = await _planned(client, target, params)
        without = await _apply(client, target, params, None)
        applied = await _apply(client, target, params, token)
    assert without.is_error and "plan_token" in text_of(without) and "dry_run=true" in text_of(without)
    assert not applied.is_error and applied.structured_content["submitted"]
    assert app.state.sandbox.jobs_created == 2


async def test_every_plan_token_refusal(era: str) -> None:
    app = sandbox()
    async with connected(app, era) as client:
        target = await _target(client)
        other = await _target(client, lambda d: d["id"] != target["id"])
        params = example_arguments(target["parameters_schema"])
        plan_id, token = await _planned(client, target, params)
        changed = dict(params, **{next(iter(params)): "something else"})
        tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
        expired = issue_plan_token(
            SIGNING_KEY,
            dry_run_job_id=plan_id,
            org=org_key(sandbox_origin(app), DEFAULT_PROFILE),
            accelerator_id=target["id"],
            parameters={},
            ttl_seconds=1,
            now=time.time() - 10,
        )
        refusals = {
            "missing": await _apply(client, target, params, None),
            "tampered": await _apply(client, target, params, tampered),
            "parameters_changed": await _apply(client, target, changed, token),
            "other_accelerator": await _apply(client, other, example_arguments(other["parameters_schema"]), token),
            "expired": await _apply(client, target, params, expired),
            "malformed": await _apply(client, target, params, "not-a-token"),
        }
    for reason, result in refusals.items():
        assert result.is_error, reason
        if reason != "missing":
            assert f"({reason})" in text_of(result), (reason, text_of(result))
        assert "dry run" in text_of(result).lower(), reason
    assert app.state.sandbox.jobs_created == 1


async def test_a_token_from_another_key_is_refused(era: str) -> None:
    app = sandbox()
    async with connected(app, era, signing_key=b"first-key-" * 4) as client:
        target = await _target(client)
        params = example_arguments(target["parameters_schema"])
        _, token = await _planned(client, target, params)
    async with connected(app, era, signing_key=b"other-key-" * 4) as client:
        result = await _apply(client, target, params, token)
    assert result.is_error and "(tampered)" in text_of(result)


async def test_a_failed_or_unfinished_plan_cannot_back_a_real_run(era: str) -> None:
    async with connected(sandbox(), era) as client:
        target = await _target(client, lambda d: any(p["type"] == "string" and not p.get("allowed_values") for p in parameters_of(d)))
        params = example_arguments(target["parameters_schema"], include_optional=True)
        name = next(p["name"] for p in parameters_of(target) if p["type"] == "string" and not p.get("allowed_values"))
        params[name] = "sandbox:fail"
        _, token = await _planned(client, target, params)
        failed = await _apply(client, target, params, token)
    assert failed.is_error and "did not succeed" in text_of(failed) and "Failed" in text_of(failed)

    slow = sandbox(job_duration=600)
    async with connected(slow, era) as client:
        target = await _target(client)
        params = example_arguments(target["parameters_schema"])
        submitted = await client.call_tool("submit-job", {"accelerator_id": target["id"], "parameters": params})
        unfinished = await _apply(client, target, params, submitted.structured_content["plan_token"])
    assert unfinished.is_error and "has not finished" in text_of(unfinished)
    assert slow.state.sandbox.jobs_created == 1


async def test_read_only_mode_does_not_list_submit_job(era: str) -> None:
    async with connected(sandbox(), era, mode="read-only") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        call = await client.call_tool("submit-job", {"accelerator_id": "x"})
    assert names == {"list-accelerators", "describe-accelerator", "get-job", "list-jobs"}
    assert call.is_error


async def test_dry_run_only_mode_plans_but_refuses_real_runs(era: str) -> None:
    app = sandbox()
    async with connected(app, era, mode="dry-run-only") as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "submit-job")
        target = await _target(client)
        params = example_arguments(target["parameters_schema"])
        _, token = await _planned(client, target, params)
        refused = await _apply(client, target, params, token)
    assert tool.annotations.destructive_hint is False and "dry-run-only" in tool.description
    assert refused.is_error and "dry-run-only mode" in text_of(refused)
    assert app.state.sandbox.jobs_created == 1


async def test_apply_mode_annotations_are_destructive(era: str) -> None:
    async with connected(sandbox(), era) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "submit-job")
    assert tool.annotations.destructive_hint is True and tool.annotations.read_only_hint is False


async def test_dropped_answers_never_double_submit() -> None:
    """100 submissions whose answer is lost after the job is created: jobs == jobs reported."""
    app = sandbox(seed=7)
    reported: set[str] = set()
    unknown = 0
    async with connected(app, "auto") as client:
        target = await _target(client)
        params = example_arguments(target["parameters_schema"])
        await _planned(client, target, params)  # the first answered submission tells who we submit as
        app.state.sandbox.faults.probability("create_job", drop_after(), 0.5)
        for _ in range(100):
            result = await client.call_tool("submit-job", {"accelerator_id": target["id"], "parameters": params})
            if result.is_error:
                unknown += 1
                assert "NOT resent" in text_of(result)
            else:
                reported.add(result.structured_content["job"]["id"])
    state = app.state.sandbox
    assert state.requests["create_job"] == 101
    assert state.jobs_created - 1 == len(reported) == 100 - unknown
    assert unknown == 0, "every created job is found in the history"


async def test_a_request_lost_before_processing_reports_unknown_and_creates_nothing() -> None:
    app = sandbox()
    async with connected(app, "auto") as client:
        target = await _target(client)
        app.state.sandbox.faults.add("create_job", drop(), times=1)
        result = await submit_example(client, target)
    assert result.is_error and "may or may not" in text_of(result) and "list-jobs" in text_of(result)
    assert app.state.sandbox.jobs_created == 0 and app.state.sandbox.requests["create_job"] == 1


async def test_waiting_reports_progress_at_each_status_change(era: str) -> None:
    app = sandbox(job_duration=1.5)
    seen: list[str] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append(message or "")

    async with connected(app, era) as client:
        target = await _target(client)
        submitted = await submit_example(client, target)
        job_id = submitted.structured_content["job"]["id"]
        done = await client.call_tool("get-job", {"job_id": job_id, "wait_seconds": 20}, progress_callback=progress)
    assert done.structured_content["status"] == "Complete" and done.structured_content["terminal"]
    statuses = [m.rsplit(": ", 1)[1] for m in seen]
    assert statuses[-1] == "Complete"
    assert len(statuses) == len(set(statuses)) >= 2, "one notification per status change"


async def test_waiting_stops_at_the_deadline_and_says_when_to_poll(era: str) -> None:
    app = sandbox(job_duration=600)
    async with connected(app, era) as client:
        target = await _target(client)
        submitted = await submit_example(client, target)
        waited = await client.call_tool("get-job", {"job_id": submitted.structured_content["job"]["id"], "wait_seconds": 1})
    assert not waited.structured_content["terminal"] and waited.structured_content["poll_after_seconds"] >= 2
    assert app.state.sandbox.requests["get_job"] >= 2


async def test_a_cancelled_wait_stops_polling() -> None:
    app = sandbox(job_duration=600)
    async with connected(app, "legacy") as client:
        target = await _target(client)
        submitted = await submit_example(client, target)
        with anyio.move_on_after(1.5):
            await client.call_tool("get-job", {"job_id": submitted.structured_content["job"]["id"], "wait_seconds": 40})
        await anyio.sleep(0.2)
        polls = app.state.sandbox.requests["get_job"]
        await anyio.sleep(2.5)
        assert app.state.sandbox.requests["get_job"] == polls, "the server kept polling after the client cancelled"


@pytest.mark.parametrize(
    ("outcome", "status", "words"),
    [
        ("rollback-complete", "RollbackComplete", "nothing was left behind"),
        ("rollback-failed", "RollbackFailed", "manual clean-up is needed"),
        ("incomplete", "Incomplete", "incomplete"),
        ("internal-error", "InternalError", "internal error"),
    ],
)
async def test_failed_runs_read_in_plain_words(era: str, outcome: str, status: str, words: str) -> None:
    async with connected(sandbox(), era, elicitation_callback=Elicitations()) as client:
        target = await _target(client, lambda d: any(p["name"] == "outcome" for p in parameters_of(d)))
        params = dict(example_arguments(target["parameters_schema"]), outcome=outcome)
        _, token = await _planned(client, target, params)
        applied = await _apply(client, target, params, token)
        assert not applied.is_error, text_of(applied)
        done = await client.call_tool("get-job", {"job_id": applied.structured_content["job"]["id"], "wait_seconds": 10})
    view = done.structured_content
    assert view["status"] == status and view["terminal"] and not view["succeeded"]
    assert words in view["outcome"]
    assert view["error_code"] and view["error_message"]
    if status.startswith("Rollback"):
        assert view["rollback_results"] and "Rollback output" in text_of(done)
    if status == "RollbackFailed":
        assert "clean-up" in view["next_step"]


async def test_sensitive_values_stay_out_of_failed_job_output(era: str) -> None:
    secret = "p4ss-w0rd-in-a-failing-run"
    async with connected(sandbox(), era) as client:
        target = await _target(client, lambda d: any(p["sensitive"] and p["type"] == "string" for p in parameters_of(d)))
        params = example_arguments(target["parameters_schema"], include_optional=True)
        for p in parameters_of(target):
            if p["sensitive"] and p["type"] == "string":
                params[p["name"]] = secret + " sandbox:fail"
        submitted = await client.call_tool("submit-job", {"accelerator_id": target["id"], "parameters": params})
        done = await client.call_tool("get-job", {"job_id": submitted.structured_content["job"]["id"], "wait_seconds": 10})
    assert done.structured_content["status"] == "Failed"
    for result in (submitted, done):
        assert secret not in everything_in(result)


async def test_reconciliation_never_claims_another_users_job() -> None:
    app = sandbox()
    state = app.state.sandbox
    async with connected(app, "auto") as client:
        target = await _target(client)
        params = example_arguments(target["parameters_schema"])
        first = await client.call_tool("submit-job", {"accelerator_id": target["id"], "parameters": params})
        assert not first.is_error, text_of(first)
        theirs = state.create_job(state.catalog[target["id"]], True, {})
        state.jobs[theirs.id] = dataclasses.replace(theirs, submitted_by="another-genesys-user")
        state.faults.add("create_job", drop(), times=1)
        lost = await client.call_tool("submit-job", {"accelerator_id": target["id"], "parameters": params})
    assert lost.is_error and "may or may not" in text_of(lost)
    assert theirs.id not in text_of(lost)


async def test_an_unreadable_answer_to_a_submission_is_reconciled_not_resent() -> None:
    app = sandbox()
    async with connected(app, "legacy") as client:
        target = await _target(client)
        await submit_example(client, target)
        app.state.sandbox.faults.add("create_job", garbled(), times=1)
        result = await submit_example(client, target)
    assert not result.is_error, text_of(result)
    assert "found in the history" in result.structured_content["note"]
    assert result.structured_content["job"]["id"] in app.state.sandbox.jobs
    assert app.state.sandbox.jobs_created == 2 and app.state.sandbox.requests["create_job"] == 2
