"""Fault injection: make the sandbox misbehave the way a real network and platform do.

Faults are planned per route, either as a queue (the next requests get these faults,
`None` meaning "answer normally") or as a probability drawn from a generator seeded
with `SandboxSettings.seed`, so a failing run replays exactly. The gateway asks the
plan once per request, before any processing.

    faults = app.state.sandbox.faults
    faults.add("create_job", drop_after(), times=1)       # job created, answer lost
    faults.schedule("get_job", [status(503), None])       # 1st read fails, 2nd works
    faults.probability("list_accelerators", status(502), 0.2)
    faults.clear()
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import httpx

ROUTES = (
    "token", "authorize_form", "authorize_submit", "list_accelerators", "get_accelerator", "create_job", "get_job",
    "list_jobs", "list_integrations", "get_integration", "users_me", "subjects_me",
)  # fmt: skip
FAULT_STATUSES = (409, 429, 500, 502, 503, 504)

FaultKind = Literal["status", "slow", "drop", "drop_after", "garbled"]


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour. Build them with `status`, `slow`, `drop`, `drop_after` and `garbled`."""

    kind: FaultKind
    status: int | None = None
    retry_after: int | None = None
    seconds: float = 0.0


def status(code: int, retry_after: int | None = None) -> Fault:
    """Answer `code` (409, 429 or a 5xx) with a Genesys error body, without processing the request."""
    if code not in FAULT_STATUSES:
        raise ValueError(f"fault status must be one of {FAULT_STATUSES}, not {code}")
    if code == 429 and retry_after is None:
        retry_after = 1
    return Fault(kind="status", status=code, retry_after=retry_after)


def slow(seconds: float) -> Fault:
    """Wait `seconds` (real time) and then answer normally: for client timeouts."""
    if seconds < 0:
        raise ValueError("slow() needs a non-negative delay")
    return Fault(kind="slow", seconds=seconds)


def drop() -> Fault:
    """Drop the connection before processing: nothing happened on the server."""
    return Fault(kind="drop")


def drop_after() -> Fault:
    """Process the request, then drop the connection before answering: the ambiguous POST."""
    return Fault(kind="drop_after")


def garbled() -> Fault:
    """Process the request, then answer 200 with an HTML page instead of JSON (a meddling proxy)."""
    return Fault(kind="garbled")


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised out of the app when no server connection can be cut (in-process ASGI).

    Deriving from httpx's own transport error means an `httpx.ASGITransport` client
    sees exactly the exception family it would see from a real dropped connection.
    """

    def __init__(self, route: str) -> None:
        super().__init__(f"sandbox dropped the connection ({route})")


def _check_route(route: str) -> None:
    if route not in ROUTES:
        raise ValueError(f"unknown route {route!r}; expected one of {', '.join(ROUTES)}")


class FaultPlan:
    """Which faults the next requests meet, per route."""

    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)
        self._queued: dict[str, deque[Fault | None]] = {}
        self._chances: dict[str, list[tuple[Fault, float]]] = {}

    def add(self, route: str, fault: Fault, times: int = 1) -> None:
        """Give `fault` to the next `times` requests to `route` (after any already queued)."""
        _check_route(route)
        if times < 1:
            raise ValueError("times must be at least 1")
        self._queued.setdefault(route, deque()).extend([fault] * times)

    def schedule(self, route: str, items: Iterable[Fault | None]) -> None:
        """Replace the route's queue: the n-th next request gets item n (`None` = normal)."""
        _check_route(route)
        self._queued[route] = deque(items)

    def probability(self, route: str, fault: Fault, chance: float) -> None:
        """Give `fault` to each request to `route` with probability `chance` (seeded draw)."""
        _check_route(route)
        if not 0.0 <= chance <= 1.0:
            raise ValueError("chance must be between 0 and 1")
        self._chances.setdefault(route, []).append((fault, chance))

    def clear(self) -> None:
        """Remove every planned fault (the random generator keeps its position)."""
        self._queued.clear()
        self._chances.clear()

    def next_fault(self, route: str) -> Fault | None:
        """The fault for this request to `route`, consuming the queue or drawing a chance."""
        queue = self._queued.get(route)
        if queue:
            return queue.popleft()
        for fault, chance in self._chances.get(route, ()):
            if self._random.random() < chance:
                return fault
        return None
