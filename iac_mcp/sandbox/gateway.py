"""The platform edge in front of the routes: correlation ids, request counts and faults.

It wraps the whole Starlette app (outside Starlette's own error middleware) because a
dropped connection must never turn into a 500 answer. Dropping works two ways:

* over a real server (uvicorn), the connection's transport is aborted, so the client
  sees the socket close without an answer;
* in-process (`httpx.ASGITransport`), there is no socket, so `ConnectionDropped`, an
  `httpx.RemoteProtocolError`, is raised out of the app and reaches the client as the
  same transport-error family.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Sequence
from typing import assert_never

from starlette.datastructures import MutableHeaders
from starlette.responses import HTMLResponse, JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iac_mcp.sandbox.errors import CORRELATION_HEADER, error_body
from iac_mcp.sandbox.faults import ConnectionDropped, Fault
from iac_mcp.sandbox.state import SandboxState

GARBLED_PAGE = "<html><body><h1>Request accepted</h1><p>Your request is being processed.</p></body></html>"
RouteEntry = tuple[str, str, str]
"""(method, path template with `{param}` parts, route name), from the app's one route table."""
_FAULT_CODES = {
    409: ("conflict", "The request conflicts with the current state of the target resource."),
    429: ("too.many.requests.retry.after", "Rate limit exceeded the maximum. Retry the request in [{retryAfter}] seconds"),
    500: ("internal.server.error", "The server encountered an unexpected condition."),
    502: ("bad.gateway", "The server received an invalid response from an upstream server."),
    503: ("service.unavailable", "The service is currently unavailable."),
    504: ("gateway.timeout", "The server did not receive a timely response from an upstream server."),
}


def _pattern(template: str) -> re.Pattern[str]:
    """A path template as a regex: `{param}` is one segment, a trailing slash is tolerated."""
    parts = re.split(r"\{[^}]+\}", template)
    return re.compile("[^/]+".join(re.escape(part) for part in parts) + "/?")


def fault_response(fault: Fault, context_id: str) -> JSONResponse:
    """The Genesys error answer for a status fault."""
    assert fault.status is not None
    code, template = _FAULT_CODES[fault.status]
    params = {"retryAfter": str(fault.retry_after)} if fault.status == 429 else None
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
    body = error_body(fault.status, code, template, context_id, params=params)
    return JSONResponse(body, status_code=fault.status, headers=headers)


def _server_transport(send: Send) -> asyncio.BaseTransport | None:
    """The socket transport behind uvicorn's `send`, or None in-process."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    return transport if isinstance(transport, asyncio.BaseTransport) else None


async def drop_connection(send: Send, route: str) -> None:
    """Cut the connection with no answer (see the module docstring for the two ways)."""
    transport = _server_transport(send)
    if transport is None:
        raise ConnectionDropped(route)
    transport.abort()  # type: ignore[attr-defined]
    await asyncio.sleep(0)  # let the server see the disconnect before the app returns


async def _discard(message: Message) -> None:
    """A `send` that loses the answer (drop_after)."""


class Gateway:
    """ASGI wrapper: stamps every answer with ININ-Correlation-Id, counts routes, injects faults."""

    def __init__(self, app: ASGIApp, state: SandboxState, routes: Sequence[RouteEntry]) -> None:
        self.app = app
        self.state = state
        self._routes = [(method, _pattern(path), name) for method, path, name in routes]

    def route_name(self, method: str, path: str) -> str | None:
        """The fault/count name of a request, or None for paths the API does not have."""
        return next((name for verb, pattern, name in self._routes if verb == method and pattern.fullmatch(path)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context_id = str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = context_id

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[CORRELATION_HEADER] = context_id
            await send(message)

        route = self.route_name(scope["method"], scope["path"])
        fault = None
        if route is not None:
            self.state.requests[route] += 1
            fault = self.state.faults.next_fault(route)
        if fault is None:
            await self.app(scope, receive, stamped)
            return
        match fault.kind:
            case "status":
                await fault_response(fault, context_id)(scope, receive, stamped)
            case "slow":
                await asyncio.sleep(fault.seconds)
                await self.app(scope, receive, stamped)
            case "drop":
                await drop_connection(send, str(route))
            case "drop_after":
                await self.app(scope, receive, _discard)
                await drop_connection(send, str(route))
            case "garbled":
                await self.app(scope, receive, _discard)
                await HTMLResponse(GARBLED_PAGE)(scope, receive, stamped)
            case unknown:
                assert_never(unknown)
