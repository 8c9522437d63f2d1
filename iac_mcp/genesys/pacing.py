"""Client-side pacing: stay under Genesys' rate limit instead of running into 429s.

Genesys allows 300 requests per minute per token, counted over a sliding window. A 429
costs a round trip and a `Retry-After` wait, and a burst of them from several tools at
once looks like abuse; waiting a little before sending is cheaper. The limiter mirrors
the server's rule: at most `rate` requests in any window of `period` seconds.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import anyio
import httpx

from iac_mcp.genesys.deadline import OutOfTime, time_left

DEFAULT_RATE_PER_MINUTE = 300
"""Genesys Cloud's documented limit per client-credentials token."""
MAX_CALLERS_REMEMBERED = 1000


class SlidingWindowLimiter:
    """At most `rate` acquisitions in any `period` seconds; callers beyond that wait their turn.

    One limiter per token holder (one per `IacClient`): the limit is per token, and the
    token is cached per client. Callers that share it are told apart by `sharing_as`
    (the server names each caller): when the window is full, the next free slot goes to
    the waiting caller served longest ago (round robin), and within one caller to the
    first who came, so one caller's sixty polls cannot starve another caller's one
    listing. `clock` and `sleep` are injectable so tests can run a minute of traffic in
    no time; they must agree (sleeping advances the clock).
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
        self._waiting: dict[object, str] = {}
        """Waiters in arrival order, each with the caller it acts for."""
        self._served: dict[str, int] = {}
        """Each caller's latest grant, by grant number."""
        self._grants = 0
        self._changed = anyio.Event()

    async def acquire(self) -> None:
        """Wait until one more request fits in the window and it is this caller's turn."""
        me, caller = object(), _caller.get()
        self._waiting[me] = caller
        try:
            while True:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.period:
                    self._sent.popleft()
                if self._next() is not me:
                    await self._changed.wait()
                elif len(self._sent) < self.rate:
                    self._sent.append(now)
                    self._grant(caller)
                    return
                else:
                    await self._sleep(self.room_in())
        finally:
            del self._waiting[me]
            self._changed.set()
            self._changed = anyio.Event()

    def room_in(self) -> float:
        """Seconds until the window has room for one more request (0: it has now)."""
        if len(self._sent) < self.rate:
            return 0.0
        return max(0.0, self._sent[0] + self.period - self._clock())

    def _next(self) -> object:
        """The waiter whose turn it is: the caller served longest ago, then arrival order."""
        return min(self._waiting, key=lambda waiter: self._served.get(self._waiting[waiter], 0))

    def _grant(self, caller: str) -> None:
        self._grants += 1
        self._served[caller] = self._grants
        if len(self._served) > MAX_CALLERS_REMEMBERED:  # forget callers who are not waiting
            waiting = set(self._waiting.values())
            self._served = {name: grant for name, grant in self._served.items() if name in waiting}


_caller: ContextVar[str] = ContextVar("iac_mcp_pacing_caller", default="")


@contextmanager
def sharing_as(caller: str) -> Iterator[None]:
    """Requests made inside count as `caller`'s share of every limiter they pass."""
    token = _caller.set(caller)
    try:
        yield
    finally:
        _caller.reset(token)


class NoRoomInTime(OutOfTime):
    """The rate limit had no room for this request before the time limit: nothing was sent."""

    def __init__(self, limiter: SlidingWindowLimiter, *, request: httpx.Request) -> None:
        self.rate, self.period, self.retry_after = limiter.rate, limiter.period, math.ceil(limiter.room_in())
        super().__init__("no room under the rate limit before the time limit", request=request)


class PacingTransport(httpx.AsyncBaseTransport):
    """A transport layer that waits for room under the rate limit before each send, for no
    longer than the operation's time limit allows (then nothing is sent)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, limiter: SlidingWindowLimiter) -> None:
        self._inner = inner
        self._limiter = limiter

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        left = time_left()
        with anyio.move_on_after(math.inf if left is None else max(left, 0.0)) as waiting:
            await self._limiter.acquire()
        if waiting.cancelled_caught:
            raise NoRoomInTime(self._limiter, request=request)
        return await self._inner.handle_async_request(request)
