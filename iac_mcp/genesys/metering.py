"""What each request to Genesys did, named by its route, never by its URL.

A transport under the retry and pacing layers, so every attempt is seen: a 429 that was
retried counts, and so does the token request. What it hands on is deliberately poor: the
method, the route template (`/api/v2/infrastructureascode/jobs/{jobId}`: no id, host, query
string or header), the status, the time to the answer and Genesys' correlation id. Where
that goes is the caller's business (`iac_mcp.telemetry`); this layer knows no telemetry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from iac_mcp.genesys.client import API_PREFIX
from iac_mcp.genesys.errors import CORRELATION_HEADER, InvalidIdError
from iac_mcp.genesys.ids import validate_id

TOKEN_ROUTE = "/oauth/token"

ROUTES = (
    f"{API_PREFIX}/accelerators",
    f"{API_PREFIX}/accelerators/{{acceleratorId}}",
    f"{API_PREFIX}/jobs",
    f"{API_PREFIX}/jobs/{{jobId}}",
    TOKEN_ROUTE,
)
"""Every route the client calls, as the Genesys API reference names them."""

OTHER_ROUTE = "other"
"""Any other path: never reported as it is, since it may hold anything."""


@dataclass(frozen=True)
class Exchange:
    """One request and its answer, in terms safe to count: no URL, header or body."""

    method: str
    route: str
    status: int | None
    """None when no answer came (`error` names the transport failure)."""
    seconds: float
    correlation_id: str | None = None
    error: str | None = None


Observer = Callable[[Exchange], None]


def route_of(path: str) -> str:
    """The template `path` fits, ids replaced by their names; `other` when none fits."""
    segments = path.split("/")
    for route in ROUTES:
        template = route.split("/")
        if len(template) == len(segments) and all(
            t == s or (t.startswith("{") and bool(s)) for t, s in zip(template, segments, strict=True)
        ):
            return route
    return OTHER_ROUTE


def correlation_id_of(response: httpx.Response) -> str | None:
    """Genesys' correlation id of an answer, if it has the shape of an id; None otherwise
    (a header is upstream text: it could hold anything)."""
    value = response.headers.get(CORRELATION_HEADER)
    if value is None:
        return None
    try:
        return validate_id(value, "correlation id")
    except InvalidIdError:
        return None


class MeteringTransport(httpx.AsyncBaseTransport):
    """Tells `observe` of every exchange, then hands the answer (or the failure) on unchanged."""

    def __init__(self, inner: httpx.AsyncBaseTransport, observe: Observer) -> None:
        self._inner = inner
        self._observe = observe

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        method, route = request.method, route_of(request.url.path)
        started = time.perf_counter()
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TransportError as exc:
            self._observe(Exchange(method, route, None, time.perf_counter() - started, error=type(exc).__name__))
            raise
        self._observe(Exchange(method, route, response.status_code, time.perf_counter() - started, correlation_id_of(response)))
        return response
