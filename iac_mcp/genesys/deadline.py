"""A time limit shared by every request one operation makes.

A tool call may send several requests (a token, a spec, the job, retries, polls). MCP
clients give up after about a minute and agents then try again, so a call that outlives its
client does harm: it keeps working for nobody, and the retry doubles the load. `time_limit`
sets the limit for the current task and the tasks it starts (a context variable); the retry
and pacing layers give each attempt only the time that is left and stop when it is spent.
A job submission cut off after it was sent is reported as possibly processed, as any other
lost answer is: never resent, never silently dropped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class TimeLimit:
    seconds: float
    ends_at: float
    """On `time.monotonic()`'s clock."""


_current: ContextVar[TimeLimit | None] = ContextVar("iac_mcp_time_limit", default=None)


@contextmanager
def time_limit(seconds: float) -> Iterator[TimeLimit]:
    """Requests made inside must finish within `seconds` from now (replacing any outer limit:
    a call that waited for a human's answer starts its sending with a fresh limit)."""
    limit = TimeLimit(seconds, time.monotonic() + seconds)
    token = _current.set(limit)
    try:
        yield limit
    finally:
        _current.reset(token)


def current_limit() -> TimeLimit | None:
    return _current.get()


def time_left() -> float | None:
    """Seconds left under the current limit (may be negative), or None when there is none."""
    limit = _current.get()
    return None if limit is None else limit.ends_at - time.monotonic()


def shrink_timeouts(timeouts: dict[str, float | None], left: float) -> dict[str, float]:
    """Each phase's timeout (httpx's `timeout` request extension), cut to the time that is left."""
    return {phase: left if value is None else min(value, left) for phase, value in timeouts.items()}


class OutOfTime(httpx.PoolTimeout):
    """Raised before sending when the limit is spent: like a pool timeout, nothing left."""
