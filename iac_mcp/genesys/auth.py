"""Bearer tokens for the API: a ready token, or the OAuth client-credentials grant.

Genesys' Python SDK fetches a token once and never refreshes it; a long-running MCP server
would start failing after `expires_in`. Here the token is cached until shortly before it
expires, refreshed by exactly one task however many need it at once (a lock and a
re-check), and renewed once when the API answers 401. Both schemes are `httpx.Auth` flows,
so the token requests travel through the same transport layers (pacing, retries).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

import anyio
import httpx
from pydantic import ValidationError

from iac_mcp.genesys.errors import CORRELATION_HEADER, AuthenticationError, parse_retry_after
from iac_mcp.genesys.models import TokenResponse
from iac_mcp.genesys.retry import RESENDABLE

logger = logging.getLogger("iac_mcp.genesys")

REFRESH_MARGIN = 60.0
"""Refresh this many seconds before expiry (or 10% of the lifetime, if that is smaller)."""


class StaticToken(httpx.Auth):
    """A ready `GENESYSCLOUD_ACCESS_TOKEN`: used as is, and cannot be renewed."""

    can_refresh = False
    token_lifetime: float | None = None
    """Unknown: a ready token says nothing of its expiry."""

    def __init__(self, access_token: str) -> None:
        self._header = f"Bearer {access_token}"
        self.current_token = access_token

    def __repr__(self) -> str:
        return "StaticToken()"

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = self._header
        yield request


@dataclass(frozen=True)
class _CachedToken:
    value: str
    refresh_at: float
    lifetime: float


class ClientCredentials(httpx.Auth):
    """The OAuth client-credentials grant, as Genesys implements it, as an httpx auth flow.

    `POST {login_base}/oauth/token` with `Authorization: Basic base64(id:secret)` and the
    form body `grant_type=client_credentials`, marked resendable: asking twice for a token
    is harmless. A 401 from the API means the request was not processed, so the flow drops
    the token, fetches another and sends the request once more, even a job submission.
    """

    can_refresh = True

    def __init__(
        self, login_base: str, client_id: str, client_secret: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._url = f"{login_base}/oauth/token"
        self._basic = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
        self._clock = clock
        self._lock = anyio.Lock()
        self._cached: _CachedToken | None = None

    def __repr__(self) -> str:
        return f"ClientCredentials(url={self._url!r})"

    @property
    def current_token(self) -> str | None:
        return self._cached.value if self._cached else None

    @property
    def token_lifetime(self) -> float | None:
        """Seconds the current token was issued for; None before the first one."""
        return self._cached.lifetime if self._cached else None

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = self._fresh()
        for renewed in (False, True):
            if token is None:
                async with self._lock:  # single flight: one token request however many callers wait
                    token = self._fresh()
                    if token is None:
                        requested_at = self._clock()
                        answer = yield self._token_request()
                        await answer.aread()
                        token = self._accept(answer, requested_at)
            request.headers["Authorization"] = f"Bearer {token}"
            response = yield request
            if response.status_code != 401 or renewed:
                return
            logger.info("%s %s -> 401: renewing the token and sending once more", request.method, request.url.path)
            if self._cached is not None and self._cached.value == token:
                self._cached = None
            token = None

    def _fresh(self) -> str | None:
        cached = self._cached
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.value
        return None

    def _token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self._url,
            headers={"Authorization": self._basic, "Accept": "application/json"},
            data={"grant_type": "client_credentials"},
            extensions={RESENDABLE: True},
        )

    def _accept(self, response: httpx.Response, requested_at: float) -> str:
        """Cache the token of a token answer, or raise `AuthenticationError` saying why not."""
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
        self._cached = _CachedToken(answer.access_token, requested_at + lifetime - min(REFRESH_MARGIN, lifetime / 10), lifetime)
        return answer.access_token


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
