"""Turn every expected failure into a message an agent can act on.

Each message says what failed, what Genesys said (status, code, correlation id,
missing permission) and the next step. Nothing here echoes a request, a header or a
parameter value, so secrets cannot leak through an error.
"""

from __future__ import annotations

from collections.abc import Sequence

from iac_mcp.genesys.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    GenesysError,
    InvalidIdError,
    NotFoundError,
    PermissionDeniedError,
    RateBudgetSpent,
    RateLimitedError,
    ServerError,
    TransportError,
    UnauthorizedError,
    UnsupportedMediaError,
)
from iac_mcp.logic.forms import Problem
from iac_mcp.vocabulary import ToolName


def _genesys_facts(error: ApiError) -> str:
    facts = [f"HTTP {error.status}"]
    if error.code:
        facts.append(f"code {error.code}")
    if error.correlation_id:
        facts.append(f"correlation id {error.correlation_id}")
    return "Genesys answered " + ", ".join(facts) + f": {error.message.rstrip('. ')}"


def _next_step(error: GenesysError, *, subject: str) -> str:
    if isinstance(error, InvalidIdError):
        return f"Use an id exactly as {ToolName.LIST_ACCELERATORS} or {ToolName.LIST_JOBS} returned it."
    if isinstance(error, NotFoundError):
        finder = ToolName.LIST_JOBS if subject == "job" else ToolName.LIST_ACCELERATORS
        return f"Check the id; call {finder} to find the right one."
    if isinstance(error, PermissionDeniedError):
        missing = ", ".join(error.missing_permissions) or "the permission named above"
        return f"Ask a Genesys Cloud admin to grant the OAuth client's role: {missing}. Retrying will not help."
    if isinstance(error, RateLimitedError):
        wait = f"{error.retry_after:g} seconds" if error.retry_after is not None else "a minute"
        return f"Genesys is rate-limiting this client: wait {wait}, then try again."
    if isinstance(error, ConflictError):
        return (
            f"A job may already be running for this: check {ToolName.LIST_JOBS} and wait for it; do not resubmit "
            "until it has finished."
        )
    if isinstance(error, UnsupportedMediaError):
        return "Genesys did not receive JSON (a proxy in between, or a bug in this server): retrying will not help."
    if isinstance(error, UnauthorizedError) and error.code == "authentication.required":
        return (
            "Genesys received no credentials at all: something between this server and Genesys (a proxy) drops the "
            "Authorization header."
        )
    if isinstance(error, UnauthorizedError):
        return "The Genesys credentials were rejected: check the OAuth client id/secret or access token the server runs with."
    if isinstance(error, BadRequestError):
        fields = ", ".join(error.field_errors)
        return (f"Fix the fields Genesys named ({fields})" if fields else "Fix the request") + ", then try again."
    if isinstance(error, ServerError):
        return (
            "Genesys had a server-side problem: try again in a minute; if it persists, report the correlation id "
            "to Genesys support."
        )
    if isinstance(error, AuthenticationError):
        return "The server could not log in to Genesys: check GENESYSCLOUD_OAUTHCLIENT_ID / _SECRET and the region."
    if isinstance(error, RateBudgetSpent):
        return f"Genesys' rate budget for this client is spent for now: wait {error.retry_after:g} seconds, then try again."
    if isinstance(error, TransportError):
        return "Genesys could not be reached: check the network or region, then try again."
    if isinstance(error, ConfigurationError):
        return "Fix the server's configuration and restart it."
    return "Try again; if it keeps failing, check the server's log."


def describe_error(action: str, error: GenesysError, *, subject: str = "accelerator") -> str:
    """`Could not <action>. <what Genesys said>. Next: <step>.`"""
    said = _genesys_facts(error) if isinstance(error, ApiError) else str(error).rstrip(". ")
    return f"Could not {action}. {said}. Next: {_next_step(error, subject=subject)}"


def describe_problems(accelerator_id: str, problems: Sequence[Problem]) -> str:
    """Every parameter problem at once, each with the form it expects."""
    lines = [f"The parameters for accelerator {accelerator_id} have {len(problems)} problem(s); nothing was submitted:"]
    lines.extend(f"- {p.message} Expected: {p.expected}." for p in problems)
    lines.append(
        f"Next: fix all of them ({ToolName.DESCRIBE_ACCELERATOR} shows every parameter), then call {ToolName.SUBMIT_JOB} again."
    )
    return "\n".join(lines)
