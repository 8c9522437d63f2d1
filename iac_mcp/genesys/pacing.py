"""Client-side pacing: stay under Genesys' rate limit instead of running into 429s.

Genesys allows 300 requests per minute per token, counted over a sliding window. A 429
costs a round trip and a `Retry-After` wait, and a burst of them from several tools at
once looks like abuse; waiting a little before sending is cheaper. The limiter mirrors
the server's rule: at most `rate` requests in any window of `period` seconds.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable

import anyio
import httpx

DEFAULT_RATE_PER_MINUTE = 300
"""Genesys Cloud's documented limit per client-credentials token."""


class SlidingWindowLimiter:
    """At most `rate` acquisitions in any `period` seconds; callers beyond that wait their turn.

    One limiter per token holder (one per `IacClient`): the limit is per token, and the
    token is cached per client. `clock` and `sleep` are injectable so tests can run a
    minute of traffic in no time; they must agree (sleeping advances the clock).
    """

    def __init__(
        self,
        rate: int = DEFAULT_RATE_PER_MINUTE,
        period: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
    ) -> None:
        if rate < 1 or period <= 0:
            raise ValueError("rate must be at least 1 and period positive")
        self.rate = rate
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = anyio.Lock()

    async def acquire(self) -> None:
        """Wait until one more request fits in the window, then count it.

        The lock makes waiters take turns in arrival order, so no caller starves.
        """
        async with self._lock:
            while True:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.period:
                    self._sent.popleft()
                if len(self._sent) < self.rate:
                    self._sent.append(now)
                    return
                await self._sleep(self._sent[0] + self.period - now)


class PacingTransport(httpx.AsyncBaseTransport):
    """A transport layer that waits for room under the rate limit before each send."""

    def __init__(self, inner: httpx.AsyncBaseTransport, limiter: SlidingWindowLimiter) -> None:
        self._inner = inner
        self._limiter = limiter

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._limiter.acquire()
        return await self._inner.handle_async_request(request)
