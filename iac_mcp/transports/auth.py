"""Who may call `/mcp`: named bearer tokens, OAuth access tokens, or both, checked with mcp's own auth middleware.

Operators hand out long random tokens, each with a name (`name:token` in `IAC_MCP_HTTP_TOKENS`
or the token file); with `--oauth-*` the server also accepts JWT access tokens from the
organisation's identity provider (`oauth`). Both may be configured at once: a bot keeps its
named token while people sign in through the provider. A presented token is compared with
every static token first; only when none matches and OAuth is on is it read as a JWT.

mcp's `BearerAuthBackend` asks our verifier, `RequireAuthMiddleware` answers 401 with
`WWW-Authenticate: Bearer` (naming the protected-resource metadata when OAuth is on), and
`AuthContextMiddleware` exposes the principal (`AccessToken.client_id`: the token's name,
`token-<fingerprint>` or `oauth:<subject>`), which the audit trail records and mcp binds
sessions and sealed `request_state` to. Only `/mcp` is guarded; `/healthz` and the metadata stay open.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Sequence

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken, TokenVerifier
from pydantic import AnyHttpUrl
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from iac_mcp.transports.identities import NamedToken
from iac_mcp.transports.oauth import JwtVerifier, KeysUnavailableError

log = logging.getLogger("iac_mcp.http")

KEYS_RETRY_AFTER_SECONDS = 30
"""What a 503 for unreachable signing keys tells the client to wait."""


class StaticTokenVerifier:
    """mcp `TokenVerifier` over a fixed set of named tokens, compared in constant time.

    Every configured token is compared, whatever matches, so timing reveals neither
    which token matched nor how much of a guess was right.
    """

    def __init__(self, tokens: Sequence[NamedToken]) -> None:
        if not tokens:
            raise ValueError("at least one token is required")
        self._tokens = [(t.token.encode(), t.name) for t in tokens]

    async def verify_token(self, token: str) -> AccessToken | None:
        presented = token.encode()
        matched: str | None = None
        for candidate, name in self._tokens:
            if hmac.compare_digest(presented, candidate):
                matched = name
        return AccessToken(token="", client_id=matched, scopes=[]) if matched else None


class EitherVerifier:
    """Static tokens first, then OAuth: the first verifier that knows the token names its principal."""

    def __init__(self, static: StaticTokenVerifier | None, oauth: JwtVerifier | None) -> None:
        self._verifiers: list[TokenVerifier] = [v for v in (static, oauth) if v is not None]
        if not self._verifiers:
            raise ValueError("at least one verifier is required")

    async def verify_token(self, token: str) -> AccessToken | None:
        for verifier in self._verifiers:
            if (found := await verifier.verify_token(token)) is not None:
                return found
        return None


class BearerGuard:
    """ASGI wrapper: requests under `path` need a valid bearer token; others pass through.

    When the identity provider's keys cannot be fetched the answer is 503 (try again), never a
    crash, and never an accepted token.
    """

    def __init__(self, app: ASGIApp, verifier: TokenVerifier, path: str, resource_metadata_url: AnyHttpUrl | None = None) -> None:
        self._app = app
        self._path = path.rstrip("/")
        self._guarded = AuthenticationMiddleware(
            AuthContextMiddleware(RequireAuthMiddleware(app, required_scopes=[], resource_metadata_url=resource_metadata_url)),
            backend=BearerAuthBackend(verifier),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == self._path or path.startswith(self._path + "/")):
            try:
                await self._guarded(scope, receive, send)
            except KeysUnavailableError:
                await _keys_unavailable(send)
        else:
            await self._app(scope, receive, send)


async def _keys_unavailable(send: Send) -> None:
    body = json.dumps(
        {
            "error": "temporarily_unavailable",
            "error_description": "The identity provider's signing keys cannot be fetched: try again shortly.",
        }
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(KEYS_RETRY_AFTER_SECONDS).encode()),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})
