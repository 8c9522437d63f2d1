"""Static bearer tokens for the HTTP transport, checked with mcp's own auth middleware.

Operators hand out long random tokens (read by the settings: `IAC_MCP_HTTP_TOKENS` or a token
file); there is
no OAuth authorization server, so mcp's `AuthSettings` (which advertises one in
protected-resource metadata) does not fit. Its building blocks do: `BearerAuthBackend`
asks our verifier, `RequireAuthMiddleware` answers 401 with `WWW-Authenticate: Bearer`,
and `AuthContextMiddleware` exposes the principal, which mcp binds sealed `request_state`
to. Only `/mcp` is guarded; `/healthz` stays open for load balancers.
"""

from __future__ import annotations

import hashlib
import hmac

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


def fingerprint(token: str) -> str:
    """A stable, non-secret name for a token (the same on every replica).

    It is the principal mcp binds `request_state` to, and what may appear in logs; the
    token itself never does.
    """
    return "token-" + hashlib.sha256(token.encode()).hexdigest()[:12]


class StaticTokenVerifier:
    """mcp `TokenVerifier` over a fixed set of tokens, compared in constant time.

    Every configured token is compared, whatever matches, so timing reveals neither
    which token matched nor how much of a guess was right.
    """

    def __init__(self, tokens: list[str]) -> None:
        if not tokens:
            raise ValueError("at least one token is required")
        self._tokens = [(t.encode(), fingerprint(t)) for t in tokens]

    async def verify_token(self, token: str) -> AccessToken | None:
        presented = token.encode()
        matched: str | None = None
        for candidate, name in self._tokens:
            if hmac.compare_digest(presented, candidate):
                matched = name
        return AccessToken(token="", client_id=matched, scopes=[]) if matched else None


class BearerGuard:
    """ASGI wrapper: requests under `path` need a valid bearer token; others pass through."""

    def __init__(self, app: ASGIApp, verifier: StaticTokenVerifier, path: str) -> None:
        self._app = app
        self._path = path.rstrip("/")
        self._guarded = AuthenticationMiddleware(
            AuthContextMiddleware(RequireAuthMiddleware(app, required_scopes=[])),
            backend=BearerAuthBackend(verifier),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == self._path or path.startswith(self._path + "/")):
            await self._guarded(scope, receive, send)
        else:
            await self._app(scope, receive, send)
