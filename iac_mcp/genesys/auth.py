"""Bearer tokens for the API: a ready token, or the OAuth client-credentials grant.

Genesys' Python SDK fetches a token once and never refreshes it; a long-running MCP server
would start failing after `expires_in`. Here the token is cached until shortly before it
expires, refreshed by exactly one task however many need it at once (a lock and a
re-check), and dropped when the API answers 401 so that the next call fetches a new one.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import anyio
import httpx
from pydantic import ValidationError

from iac_mcp.genesys.errors import CORRELATION_HEADER, AuthenticationError, parse_retry_after
from iac_mcp.genesys.models import TokenResponse
from iac_mcp.genesys.retry import RetryPolicy, send

logger = logging.getLogger("iac_mcp.genesys")

REFRESH_MARGIN = 60.0
"""Refresh this many seconds before expiry (or 10% of the lifetime, if that is smaller)."""


class TokenSource(Protocol):
    """What the client needs from an authentication scheme."""

    can_refresh: bool

    async def token(self) -> str:
        """A bearer token believed to be valid."""
        ...

    def invalidate(self, stale: str) -> None:
        """The API rejected `stale`: forget it, so that the next `token()` fetches another."""
        ...


class StaticToken:
    """A ready `GENESYSCLOUD_ACCESS_TOKEN`: used as is, and cannot be renewed."""

    can_refresh = False

    def __init__(self, access_token: str) -> None:
        self._access_token = access_token

    def __repr__(self) -> str:
        return "StaticToken()"

    async def token(self) -> str:
        return self._access_token

    def invalidate(self, stale: str) -> None:
        """Nothing to do: there is no way to obtain another token."""


@dataclass(frozen=True)
class _CachedToken:
    value: str
    refresh_at: float


class ClientCredentials:
    """The OAuth client-credentials grant, as Genesys implements it.

    `POST {login_base}/oauth/token` with `Authorization: Basic base64(id:secret)` and the
    form body `grant_type=client_credentials`. The request is retried like a read: asking
    twice for a token is harmless.
    """

    can_refresh = True

    def __init__(
        self,
        http: httpx.AsyncClient,
        login_base: str,
        client_id: str,
        client_secret: str,
        *,
        retry: RetryPolicy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._url = f"{login_base}/oauth/token"
        self._basic = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
        self._retry = retry
        self._clock = clock
        self._lock = anyio.Lock()
        self._cached: _CachedToken | None = None

    def __repr__(self) -> str:
        return f"ClientCredentials(url={self._url!r})"

    async def token(self) -> str:
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        async with self._lock:
            fresh = self._fresh()
            if fresh is not None:
                return fresh
            self._cached = await self._fetch()
            return self._cached.value

    def invalidate(self, stale: str) -> None:
        if self._cached is not None and self._cached.value == stale:
            self._cached = None

    def _fresh(self) -> str | None:
        cached = self._cached
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.value
        return None

    async def _fetch(self) -> _CachedToken:
        requested_at = self._clock()

        async def build() -> httpx.Request:
            return self._http.build_request(
                "POST",
                self._url,
                headers={"Authorization": self._basic, "Accept": "application/json"},
                data={"grant_type": "client_credentials"},
            )

        response = await send(self._http, build, self._retry, resendable=True)
        if response.status_code != 200:
            raise _token_error(response)
        try:
            answer = TokenResponse.model_validate(response.json())
        except (json.JSONDecodeError, UnicodeDecodeError, ValidationError):
            raise AuthenticationError(
                "The OAuth token endpoint answered 200 without a usable access token.",
                status=200,
                correlation_id=response.headers.get(CORRELATION_HEADER),
            ) from None
        lifetime = max(0, answer.expires_in)
        logger.info("obtained an OAuth token valid for %d s", lifetime)
        return _CachedToken(answer.access_token, requested_at + lifetime - min(REFRESH_MARGIN, lifetime / 10))


def _token_error(response: httpx.Response) -> AuthenticationError:
    """The OAuth error (`error`, `description`/`error_description`) in words; never the secret."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        body = {}
    parts = [f"OAuth token request failed with HTTP {response.status_code}"]
    error = body.get("error") or body.get("code")
    description = body.get("description") or body.get("error_description") or body.get("message")
    parts.extend(str(text) for text in (error, description) if text)
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if retry_after is not None:
        parts.append(f"retry after {retry_after:g} s")
    if response.status_code in (400, 401):
        parts.append(
            "check GENESYSCLOUD_OAUTHCLIENT_ID and GENESYSCLOUD_OAUTHCLIENT_SECRET "
            "(a client-credentials OAuth client of this region)"
        )
    return AuthenticationError(
        "; ".join(parts) + ".",
        status=response.status_code,
        correlation_id=response.headers.get(CORRELATION_HEADER),
    )
