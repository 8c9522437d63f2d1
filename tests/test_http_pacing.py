"""Client-side pacing: twice the rate limit's worth of calls, and Genesys never answers 429.

A shared fake clock drives both the sandbox's sliding window and the client's limiter,
whose sleep advances it, so two minutes of traffic take no real time.
"""

from __future__ import annotations

import httpx
import pytest
from conftest import FakeClock

from iac_mcp.genesys.client import IacClient
from iac_mcp.genesys.config import GenesysConfig
from iac_mcp.genesys.errors import GenesysError
from iac_mcp.genesys.pacing import SlidingWindowLimiter
from iac_mcp.genesys.retry import RetryPolicy
from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.settings import SandboxSettings
from iac_mcp.upstream import SANDBOX_ORIGIN

pytestmark = pytest.mark.anyio

RATE = 30


def _client(clock: FakeClock, pacer: SlidingWindowLimiter | None) -> tuple[IacClient, list[int]]:
    """A client on an in-process sandbox limited to RATE a minute; 429s surface at once."""
    app = create_app(SandboxSettings(rate_limit_per_minute=RATE, clock=clock, job_duration=0))
    settings = app.state.sandbox.settings
    config = GenesysConfig.for_sandbox(SANDBOX_ORIGIN, settings.client_id, settings.client_secret)
    client = IacClient(
        config,
        transport=httpx.ASGITransport(app=app),
        retry=RetryPolicy(max_attempts=1),
        clock=clock,
        pacer=pacer,
    )
    statuses: list[int] = []

    async def record(response: httpx.Response) -> None:
        statuses.append(response.status_code)

    client._http.event_hooks["response"].append(record)
    return client, statuses


async def _calls(client: IacClient, count: int) -> int:
    """How many of `count` catalogue reads failed."""
    failed = 0
    async with client:
        for _ in range(count):
            try:
                await client.list_accelerators(page_size=1)
            except GenesysError:
                failed += 1
    return failed


async def test_twice_the_limit_gets_no_429(fake_clock: FakeClock) -> None:
    async def sleep(seconds: float) -> None:
        fake_clock.advance(seconds)

    start = fake_clock.now
    client, statuses = _client(fake_clock, SlidingWindowLimiter(RATE, clock=fake_clock, sleep=sleep))
    assert await _calls(client, 2 * RATE) == 0
    assert 429 not in statuses and statuses.count(200) >= 2 * RATE
    assert fake_clock.now - start >= 60, "the second half of the calls had to wait for the window to slide"


async def test_without_pacing_the_same_calls_hit_429(fake_clock: FakeClock) -> None:
    client, statuses = _client(fake_clock, SlidingWindowLimiter(10 * RATE, clock=fake_clock))
    assert await _calls(client, 2 * RATE) > 0
    assert 429 in statuses


async def test_limiter_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter(0)
