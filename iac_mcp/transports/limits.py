"""Bounded resources at the HTTP boundary: slow clients, connections, and `--stateful` sessions.

- **Slow clients** (slowloris): h11 has no header timeout, and uvicorn's keep-alive timeout only
  runs between requests, so a client trickling a header a second holds its connection forever.
  An ASGI guard cannot help (the app first sees a request once its headers are complete), so the
  guard sits in the protocol: `BoundedH11Protocol` closes a connection that has not delivered a
  whole request (headers and body) within `--read-timeout` of its first byte, or of connecting.
- **Connections**: uvicorn's `limit_concurrency` answers 503 beyond `--limit-concurrency` open
  connections or requests per worker; slow connections count, and the read timeout frees them.
- **Sessions** (`--stateful` only): mcp's session manager expires idle sessions
  (`--session-idle-timeout`) and caps them globally; `SessionQuota` caps them per principal, so
  one caller cannot use up the server's sessions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from typing import Any

import h11
import uvicorn
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types import INVALID_REQUEST
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

log = logging.getLogger("iac_mcp.http")

DEFAULT_READ_TIMEOUT_SECONDS = 10.0
"""Used only when the protocol runs under a plain `uvicorn.Config` (the settings always set it)."""

UNAUTHENTICATED = "unauthenticated"
"""The principal sessions are counted under on a loopback server without authentication."""

_READING = (h11.IDLE, h11.SEND_BODY)
"""h11 states in which the client still owes us (part of) a request."""


class HttpConfig(uvicorn.Config):
    """uvicorn's config with the read timeout the protocol enforces; it travels to worker processes with it."""

    def __init__(self, app: Any, *, read_timeout: float, **options: Any) -> None:
        super().__init__(app, http=BoundedH11Protocol, **options)
        self.read_timeout = read_timeout


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections that do not deliver a whole request in time."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._read_timeout = config.read_timeout if isinstance(config, HttpConfig) else DEFAULT_READ_TIMEOUT_SECONDS
        self._read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._read_timer is None and self.conn.their_state in _READING:
            self._arm()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state not in _READING:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._read_timer = self.loop.call_later(self._read_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _too_slow(self) -> None:
        self._read_timer = None
        if self.conn.their_state in _READING and not self.transport.is_closing():
            peer = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
            log.warning("Closing the connection of %s: no complete request within %g s", peer, self._read_timeout)
            self.transport.close()


def live_sessions(manager: StreamableHTTPSessionManager) -> Callable[[], Collection[str]]:
    """The ids of the sessions `manager` holds open right now (idle-expired and deleted ones are gone).

    mcp has no public view of them; this reads its registry, and fails at start-up, not per request,
    if a future mcp renames it.
    """
    registry = getattr(manager, "_server_instances", None)
    if not isinstance(registry, dict):
        raise RuntimeError("mcp's session manager no longer exposes its sessions: SessionQuota needs updating")
    return registry.keys


class SessionQuota:
    """ASGI wrapper for `--stateful`: a principal may hold at most `limit` sessions; the next
    `initialize` gets 429 with a JSON-RPC error saying how to free one. Other principals are unaffected.

    A slot is reserved before the request reaches mcp and released if no session results, so
    concurrent `initialize` requests cannot overshoot the cap.
    """

    def __init__(
        self, app: ASGIApp, *, sessions: Callable[[], Collection[str]], limit: int, idle_timeout: float, path: str
    ) -> None:
        self._app = app
        self._sessions = sessions
        self._limit = limit
        self._idle_timeout = idle_timeout
        self._path = path.rstrip("/")
        self._held: dict[str, set[str]] = {}
        self._opening: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._opens_a_session(scope):
            await self._app(scope, receive, send)
            return
        principal = _principal(scope)
        live = self._sessions()
        for ids in self._held.values():
            ids.intersection_update(live)
        # principals with no session and none opening are forgotten (an opening one's set is still to be filled)
        self._held = {name: ids for name, ids in self._held.items() if ids or self._opening.get(name)}
        held = self._held.setdefault(principal, set())
        if len(held) + self._opening.get(principal, 0) >= self._limit:
            log.warning("Refusing a new session for %s: it holds %d (the limit)", principal, self._limit)
            await self._refusal()(scope, receive, send)
            return
        self._opening[principal] = self._opening.get(principal, 0) + 1
        reserved = True

        def release() -> None:
            nonlocal reserved
            if reserved:
                reserved = False
                self._opening[principal] -= 1
                if not self._opening[principal]:
                    del self._opening[principal]

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                session = Headers(raw=message.get("headers", [])).get(MCP_SESSION_ID_HEADER)
                if session and message["status"] < 400:
                    held.add(session)
                release()
            await send(message)

        try:
            await self._app(scope, receive, watch)
        finally:
            release()

    def _opens_a_session(self, scope: Scope) -> bool:
        """A POST with no session id in a handshake-era protocol (or none named): what mcp opens a session for."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("path", "").rstrip("/") != self._path:
            return False
        headers = Headers(scope=scope)
        version = headers.get(MCP_PROTOCOL_VERSION_HEADER)
        return MCP_SESSION_ID_HEADER not in headers and (version is None or version in HANDSHAKE_PROTOCOL_VERSIONS)

    def _refusal(self) -> JSONResponse:
        message = (
            f"Too many open sessions for this caller (the limit is {self._limit}). Next: end one you no longer use "
            f"(DELETE /mcp with its Mcp-Session-Id header), or wait: sessions idle for {self._idle_timeout:g} s end by "
            "themselves. Clients of protocol 2026-07-28 need no session at all."
        )
        body = {"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": message}}
        return JSONResponse(body, status_code=429)


def _principal(scope: Scope) -> str:
    user = scope.get("user")
    return user.access_token.client_id if isinstance(user, AuthenticatedUser) else UNAUTHENTICATED
