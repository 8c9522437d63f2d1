"""Typed errors of the Genesys client.

Every failure the client can meet is one of these, carrying what an operator (or an
agent) needs to act: HTTP status, Genesys `code`, the message with its parameters
filled in, the correlation id, `Retry-After`, and for a 403 the missing permission.
None of them ever holds a secret: messages are built from the error body and our own
words, never from request headers or bodies.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from pydantic import ValidationError

from iac_mcp.genesys.models import ErrorBody


class GenesysError(Exception):
    """Base of every error raised by the Genesys client."""


class ConfigurationError(GenesysError):
    """Missing or contradictory configuration, found at start-up."""


class InvalidIdError(GenesysError, ValueError):
    """An id that must not enter a URL path. No request was sent."""

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"Invalid {kind}: {reason}. No request was sent.")


class TransportError(GenesysError):
    """No HTTP answer: connection refused or reset, DNS failure, timeout.

    `maybe_processed` is true when the request may have reached Genesys (the case that
    forbids resending a job submission).
    """

    def __init__(self, message: str, *, maybe_processed: bool) -> None:
        self.maybe_processed = maybe_processed
        super().__init__(message)


class RateBudgetSpent(TransportError):
    """Nothing was sent: pacing found no room under Genesys' rate limit before the call's time
    limit, so `retry_after` seconds must pass first. Not a network fault: a busy client."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message, maybe_processed=False)


class UnexpectedResponseError(GenesysError):
    """Genesys answered 2xx with a body that is not what the API documents.

    For a job submission the job was probably created.
    """


class AuthenticationError(GenesysError):
    """The OAuth token request failed (bad client id/secret, or a login-side error)."""

    def __init__(self, message: str, *, status: int | None = None, correlation_id: str | None = None) -> None:
        self.status = status
        self.correlation_id = correlation_id
        super().__init__(message)


_PARAM = re.compile(r"\{(\w+)\}")


def fill_message_params(message: str, params: dict[str, str] | None) -> str:
    """Genesys messages say `Missing permission {permission}`: fill in the braces."""
    if not params:
        return message
    return _PARAM.sub(lambda m: params.get(m.group(1), m.group(0)), message)


_PERMISSION = re.compile(r"\b[A-Za-z]+:[A-Za-z*]+:[A-Za-z*]+\b")


class ApiError(GenesysError):
    """Genesys answered with an error status."""

    def __init__(
        self,
        status: int,
        body: ErrorBody | None,
        *,
        correlation_id: str | None = None,
        retry_after: float | None = None,
        method: str = "",
        path: str = "",
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.body = body or ErrorBody()
        self.code = self.body.code
        self.correlation_id = self.body.context_id or correlation_id
        self.retry_after = retry_after
        self.method = method
        self.path = path
        self.hint = hint
        raw = self.body.message_with_params or self.body.message or f"HTTP {status}"
        self.message = fill_message_params(raw, self.body.message_params)
        super().__init__(self._describe())

    @property
    def missing_permissions(self) -> list[str]:
        """For a 403, the permissions Genesys names as missing."""
        if self.status != 403:
            return []
        found: list[str] = []
        sources = [self.message, *(self.body.message_params or {}).values()]
        for text in sources:
            for perm in _PERMISSION.findall(text or ""):
                if perm not in found:
                    found.append(perm)
        return found

    @property
    def field_errors(self) -> list[str]:
        """For a 400, the fields Genesys names in `details`."""
        return [d.field_name for d in self.body.details if d.field_name]

    def _describe(self) -> str:
        parts = [f"Genesys answered {self.status}"]
        if self.code:
            parts[0] += f" {self.code}"
        if self.method and self.path:
            parts[0] += f" to {self.method} {self.path}"
        parts.append(self.message)
        if self.hint:
            parts.append(self.hint)
        if self.correlation_id:
            parts.append(f"correlation id {self.correlation_id}")
        if self.retry_after is not None:
            parts.append(f"retry after {self.retry_after:g} s")
        return "; ".join(parts)


class NotFoundError(ApiError):
    """404: the accelerator or job does not exist (or is not visible to this client)."""


class PermissionDeniedError(ApiError):
    """403: the OAuth client lacks a permission; see `missing_permissions`."""


class UnauthorizedError(ApiError):
    """401 that survived one token refresh."""


class BadRequestError(ApiError):
    """400: invalid parameters; see `field_errors`."""


class ConflictError(ApiError):
    """409: the request conflicts with the current state, e.g. a job of this accelerator is running."""


class UnsupportedMediaError(ApiError):
    """415: the body was not JSON; a proxy or a client bug, never fixed by retrying."""


class RateLimitedError(ApiError):
    """429 that retries could not outlast within the bounded wait; see `retry_after`."""


class ServerError(ApiError):
    """5xx from Genesys.

    For a job submission this is ambiguous: the job may have been created.
    """


def api_error_class(status: int) -> type[ApiError]:
    """The exception type for an error status."""
    return {
        400: BadRequestError,
        401: UnauthorizedError,
        403: PermissionDeniedError,
        404: NotFoundError,
        409: ConflictError,
        415: UnsupportedMediaError,
        429: RateLimitedError,
    }.get(status, ServerError if status >= 500 else ApiError)


CORRELATION_HEADER = "ININ-Correlation-Id"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` in seconds: Genesys sends delta-seconds, HTTP also allows a date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def parse_error_body(response: httpx.Response) -> ErrorBody | None:
    """The Genesys error body, or None when the answer is not one (HTML from a proxy...)."""
    try:
        payload = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict):
        return None
    try:
        return ErrorBody.model_validate(payload)
    except ValidationError:
        return None


def error_from_response(response: httpx.Response, *, hint: str | None = None) -> ApiError:
    """The typed error for a non-2xx answer.

    Only the method and the URL path are kept: query values are never part of an error.
    """
    body = parse_error_body(response) or ErrorBody(message=response.reason_phrase or None)
    return api_error_class(response.status_code)(
        response.status_code,
        body,
        correlation_id=response.headers.get(CORRELATION_HEADER),
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        method=response.request.method,
        path=response.request.url.path,
        hint=hint,
    )
