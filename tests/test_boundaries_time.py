"""Time and resources: a tool call ends within its time limit, a real run cut off mid-POST is
in doubt (never resent, never dropped), one caller's waits cannot crowd out another's calls.

The sandbox runs over real HTTP (uvicorn on loopback) so that timeouts are real socket
timeouts; `slow` faults hold its answers.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import pytest
from conftest import FakeClock, Sandbox
from mcp import Client
from mcp.types import CallToolResult
from servers import (
    QUEUE_MODULE_NAME,
    accept_consent,
    all_descriptions,
    everything_in,
    fresh_ledger,
    sandbox,
    server_settings,
    text_of,
)

from iac_mcp.demo import example_arguments
from iac_mcp.genesys.config import GenesysConfig
from iac_mcp.genesys.pacing import SlidingWindowLimiter, sharing_as
from iac_mcp.sandbox.faults import slow
from iac_mcp.server.app import build_server
from iac_mcp.settings import Settings
from iac_mcp.upstream import genesys_client, sandbox_client

pytestmark = pytest.mark.anyio

LIMIT = 5.0
"""The smallest time limit the settings allow."""
HELD = 20.0
"""How long a slow sandbox holds an answer: four times the limit."""


@asynccontextmanager
async def over_http(box: Sandbox, **settings: Any) -> AsyncIterator[Client]:
    """The MCP server in-process, its Genesys client on the sandbox's real socket."""
    sandbox_settings = box.state.settings
    config = GenesysConfig.for_sandbox(box.url, sandbox_settings.client_id, sandbox_settings.client_secret)
    options: dict[str, Any] = {"call_time_limit": LIMIT} | settings
    server = build_server(partial(genesys_client, config), server_settings(**options), ledger=fresh_ledger())
    async with Client(server, mode="auto", elicitation_callback=accept_consent) as client:
        yield client


async def timed(call: Callable[[], Any]) -> tuple[CallToolResult, float]:
    started = time.monotonic()
    result = await call()
    return result, time.monotonic() - started


async def test_a_read_against_a_slow_upstream_ends_at_the_time_limit(start_sandbox: Callable[..., Sandbox]) -> None:
    """Before: a slow upstream held get-job for the read timeout times every retry (123 s)."""
    box = start_sandbox(job_duration=0)
    job = box.state.create_job(next(iter(box.state.catalog.values())), True, {})
    async with over_http(box) as client:
        await client.call_tool("list-jobs", {})  # the token is fetched before the upstream slows down
        box.state.faults.add("get_job", slow(HELD), times=10)
        result, elapsed = await timed(lambda: client.call_tool("get-job", {"job_id": job.id}))
    assert result.is_error
    text = text_of(result)
    assert f"time limit of {LIMIT:g} s ran out" in text, text
    assert elapsed < HELD, f"the call took {elapsed:.1f} s, past its {LIMIT:g} s limit"


async def test_a_wait_is_cut_to_the_time_limit_and_reports_the_job_still_running(
    start_sandbox: Callable[..., Sandbox],
) -> None:
    box = start_sandbox(job_duration=600)
    job = box.state.create_job(next(iter(box.state.catalog.values())), True, {})
    async with over_http(box, call_time_limit=8.0) as client:
        result, elapsed = await timed(lambda: client.call_tool("get-job", {"job_id": job.id, "wait_seconds": 40}))
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None and result.structured_content["terminal"] is False
    assert elapsed < 40, f"the wait ran {elapsed:.1f} s, past the 8 s limit"


async def test_a_real_run_cut_off_mid_post_is_in_doubt_and_never_resent(start_sandbox: Callable[..., Sandbox]) -> None:
    """The POST has left when the limit runs out: the outcome is unknown, the plan stays
    reserved, and calling again looks for the job instead of sending a second one."""
    box = start_sandbox(job_duration=0)
    async with over_http(box) as client:
        description = next(d for d in await all_descriptions(client) if d["name"] == QUEUE_MODULE_NAME)
        arguments = {"accelerator_id": description["id"], "parameters": example_arguments(description["parameters_schema"])}
        plan = await client.call_tool("submit-job", arguments)
        assert not plan.is_error, text_of(plan)
        assert plan.structured_content is not None
        real = {**arguments, "dry_run": False, "plan_token": plan.structured_content["plan_token"]}
        box.state.faults.add("create_job", slow(HELD), times=1)
        cut, elapsed = await timed(lambda: client.call_tool("submit-job", real))
        assert cut.is_error and "Outcome unknown" in text_of(cut), text_of(cut)
        assert f"time limit of {LIMIT:g} s ran out" in text_of(cut) and "NOT resent" in text_of(cut)
        assert elapsed < HELD
        posts = box.state.requests["create_job"]
        again = await client.call_tool("submit-job", real)
        assert box.state.requests["create_job"] == posts, "the real run was sent a second time"
        assert again.is_error and "Outcome unknown" in text_of(again), text_of(again)


async def test_waits_beyond_the_callers_cap_read_once_and_say_so(start_sandbox: Callable[..., Sandbox]) -> None:
    box = start_sandbox(job_duration=600)
    job = box.state.create_job(next(iter(box.state.catalog.values())), True, {})
    async with over_http(box, call_time_limit=30.0, waits_per_caller=2) as client, anyio.create_task_group() as group:
        results: list[CallToolResult] = []

        async def wait() -> None:
            results.append(await client.call_tool("get-job", {"job_id": job.id, "wait_seconds": 3}))

        for _ in range(5):
            group.start_soon(wait)
    capped = [r for r in results if "Not waited" in everything_in(r)]
    assert len(capped) == 3, [text_of(r) for r in results]
    assert all(not r.is_error for r in results)


async def test_one_callers_burst_does_not_starve_another_caller(fake_clock: FakeClock) -> None:
    """60 requests of one caller queue up first; the other caller's one request gets the
    next free slot, not the 61st."""
    lister_queued = anyio.Event()

    async def sleep(seconds: float) -> None:  # time stands still until the lister is in the queue
        await lister_queued.wait()
        fake_clock.advance(seconds)
        await anyio.sleep(0)

    limiter = SlidingWindowLimiter(rate=5, period=60.0, clock=fake_clock, sleep=sleep)
    granted: list[str] = []

    async def request(caller: str) -> None:
        with sharing_as(caller):
            await limiter.acquire()
        granted.append(caller)

    async with anyio.create_task_group() as group:
        for _ in range(60):
            group.start_soon(request, "poller")
        await anyio.sleep(0.01)
        group.start_soon(request, "lister")
        await anyio.sleep(0.01)
        lister_queued.set()
    assert len(granted) == 61
    assert granted.index("lister") == 5, f"the lister waited behind {granted.index('lister')} of the poller's requests"


async def test_within_one_caller_requests_keep_their_order(fake_clock: FakeClock) -> None:
    async def sleep(seconds: float) -> None:
        fake_clock.advance(seconds)
        await anyio.sleep(0)

    limiter = SlidingWindowLimiter(rate=2, period=10.0, clock=fake_clock, sleep=sleep)
    granted: list[int] = []

    async def request(number: int) -> None:
        await limiter.acquire()
        granted.append(number)

    async with anyio.create_task_group() as group:
        for number in range(8):
            group.start_soon(request, number)
            await anyio.sleep(0)
    assert granted == list(range(8))


def test_the_time_limit_and_wait_cap_are_settings() -> None:
    assert Settings().call_time_limit == 45.0
    with pytest.raises(ValueError):
        Settings(call_time_limit=1)


async def test_a_call_with_no_room_under_the_rate_limit_says_when_to_try_again_and_sends_nothing() -> None:
    """Before: the pacer giving up at the time limit read as "Genesys could not be reached"."""
    app = sandbox()
    upstream = partial(sandbox_client, app, pacer=SlidingWindowLimiter(rate=2, period=60))  # the token, then one listing
    server = build_server(upstream, server_settings(call_time_limit=LIMIT), ledger=fresh_ledger())
    async with Client(server, mode="auto") as client:
        first = await client.call_tool("list-jobs", {})
        sent = sum(app.state.sandbox.requests.values())
        second, elapsed = await timed(lambda: client.call_tool("list-jobs", {}))
    assert not first.is_error, text_of(first)
    assert second.is_error and sum(app.state.sandbox.requests.values()) == sent, "nothing more was sent"
    text = text_of(second)
    assert "the rate limit (2 requests in 60 s) had no room for it" in text, text
    wait = re.search(r"rate budget for this client is spent for now: wait (\d+) seconds, then try again", text)
    assert wait and 60 - LIMIT - 2 <= int(wait.group(1)) <= 60, text  # when the window frees a slot
    assert "could not be reached" not in text, text
    assert elapsed < LIMIT + 5, f"the call took {elapsed:.1f} s, past its {LIMIT:g} s limit"
