"""Chaos: every upstream route misbehaves at random (seeded), and the tools still either
finish the flow or say clearly what failed and what to do; nothing crashes or hangs, and
no job is created that the tools did not account for."""

from __future__ import annotations

import anyio
import pytest
from reliability import FlowLog, fast_connected, tolerant_flow
from servers import ERAS, sandbox, text_of

from iac_mcp.sandbox.faults import ROUTES, Fault, drop, drop_after, slow, status

pytestmark = pytest.mark.anyio

QUEUE_MODULE = "3b1c9d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
"""The built-in Simple Queue Module."""
FLOWS = 25
FLOW_BOUND_SECONDS = 30
"""A flow that takes longer than this (its waits included) counts as a hang."""

MIXES: dict[str, list[tuple[Fault, float]]] = {
    "throttled": [(status(429, retry_after=2), 0.25)],
    "server-errors": [(status(500), 0.08), (status(502), 0.08), (status(503), 0.08), (status(504), 0.08)],
    "slow": [(slow(0.02), 0.3)],
    "dropped": [(drop(), 0.12), (drop_after(), 0.12)],
    "everything": [
        (status(429, retry_after=1), 0.06),
        (status(503), 0.06),
        (status(500), 0.04),
        (slow(0.02), 0.06),
        (drop(), 0.04),
        (drop_after(), 0.04),
    ],
}


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("mix", sorted(MIXES))
async def test_flows_survive_faults_on_every_route(era: str, mix: str) -> None:
    app = sandbox(seed=sorted(MIXES).index(mix) + 11, token_lifetime=0.3)
    faults = app.state.sandbox.faults
    for route in ROUTES:
        for fault, chance in MIXES[mix]:
            faults.probability(route, fault, chance)
    logs = [FlowLog() for _ in range(FLOWS)]
    async with fast_connected(app, era) as client:
        for log in logs:
            with anyio.fail_after(FLOW_BOUND_SECONDS):
                await tolerant_flow(client, QUEUE_MODULE, log)
        faults.clear()
        history = await client.call_tool("list-jobs", {"max_results": 100})
    assert not history.is_error, text_of(history)
    state = app.state.sandbox
    reported = [job for log in logs for job in log.reported_jobs]
    unknown = sum(log.unknown_submissions for log in logs)
    assert len(reported) == len(set(reported)), "a job was reported twice"
    assert set(reported) <= set(state.jobs), "a reported job does not exist"
    assert len(reported) <= state.jobs_created <= len(reported) + unknown, "a job was created behind the tools' back"
    assert {job["id"] for job in history.structured_content["jobs"]} == set(state.jobs), "list-jobs accounts for every job"
    assert sum(log.completed for log in logs) > 0, "no flow got through: the faults are too dense to test anything"
    assert sum(state.requests[r] for r in ROUTES if r != "token") > FLOWS * 2


@pytest.mark.parametrize("era", ERAS)
async def test_expired_tokens_are_renewed_mid_flow(era: str) -> None:
    app = sandbox(token_lifetime=0.2)
    async with fast_connected(app, era) as client:
        for _ in range(3):
            log = FlowLog()
            with anyio.fail_after(FLOW_BOUND_SECONDS):
                await tolerant_flow(client, QUEUE_MODULE, log)
            assert log.completed, log.errors
            await anyio.sleep(0.25)
    assert app.state.sandbox.token_requests >= 3


async def test_rate_limit_beyond_the_retry_budget_says_how_long_to_wait() -> None:
    app = sandbox()
    app.state.sandbox.faults.add("list_accelerators", status(429, retry_after=120), times=10)
    async with fast_connected(app, "auto") as client:
        with anyio.fail_after(FLOW_BOUND_SECONDS):
            result = await client.call_tool("list-accelerators", {})
    assert result.is_error
    assert "429" in text_of(result) and "wait 120 seconds" in text_of(result)
    assert app.state.sandbox.requests["list_accelerators"] == 1, "a Retry-After past the budget is not waited out"


async def test_persistent_server_errors_end_in_a_bounded_number_of_attempts() -> None:
    app = sandbox()
    app.state.sandbox.faults.probability("get_accelerator", status(503), 1.0)
    async with fast_connected(app, "auto") as client:
        with anyio.fail_after(FLOW_BOUND_SECONDS):
            result = await client.call_tool("describe-accelerator", {"accelerator_id": QUEUE_MODULE})
    assert result.is_error and "503" in text_of(result) and "try again" in text_of(result)
    assert app.state.sandbox.requests["get_accelerator"] == 4
