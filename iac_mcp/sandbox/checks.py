"""What every route checks before it acts, in Genesys' order, and the error it raises.

Token (401), per-token rate limit (429), permission (403), then the request itself
(415/413/400). Failures are raised as `ApiError` anywhere in a route and rendered once,
as Genesys' error body, by the app's exception handler.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from starlette.requests import Request

from iac_mcp.sandbox.settings import SandboxOrg
from iac_mcp.sandbox.state import Grant, SandboxState
from iac_mcp.sandbox.vocabulary import same

MAX_BODY_BYTES = 512_000
MISSING_ANY = (
    "Unable to perform the requested action. You must have at least one of the following permissions assigned: {permissions}"
)
MISSING_ALL = "Unable to perform the requested action. You are missing the following permission(s): {permissions}"


class ApiError(Exception):
    """A Genesys error answer, raised from anywhere in a route."""

    def __init__(
        self,
        status: int,
        code: str,
        template: str,
        *,
        params: Mapping[str, str] | None = None,
        details: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(template)
        self.status, self.code, self.template = status, code, template
        self.params, self.details, self.headers = params, details, headers


def bad_request(message: str, *details: tuple[str, str]) -> ApiError:
    return ApiError(400, "bad.request", message, details=details)


def sandbox(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: the sandbox, and what its bearer token stands for."""

    state: SandboxState
    grant: Grant

    @property
    def org(self) -> SandboxOrg:
        return self.grant.org


def _token(request: Request, state: SandboxState) -> str:
    header = request.headers.get("authorization")
    if header is None:
        raise ApiError(401, "authentication.required", "No authentication bearer token specified in authorization header.")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    found = state.token_state(token) if same(scheme, "bearer") else "unknown"
    if found == "expired":
        raise ApiError(401, "credentials.expired", "The supplied credentials are expired and cannot be used.")
    if found == "unknown":
        raise ApiError(401, "bad.credentials", "Invalid login credentials.")
    return token


def authenticate(request: Request) -> Caller:
    """Token (401), then rate limit (429): the checks of a route that needs no permission."""
    state = sandbox(request)
    token = _token(request, state)
    retry_after = state.rate_limited(token)
    if retry_after is not None:
        raise ApiError(
            429,
            "too.many.requests.retry.after",
            "Rate limit exceeded the maximum. Retry the request in [{retryAfter}] seconds",
            params={"retryAfter": str(retry_after)},
            headers={"Retry-After": str(retry_after)},
        )
    return Caller(state, state.tokens[token])


def authorize(request: Request, permission: str, *, all_of: bool = False) -> Caller:
    """Token (401), rate limit (429), then permission (403).

    `all_of` marks a route that requires all of its permissions: Genesys then answers
    `missing.permissions` instead of `missing.any.permissions`.
    """
    caller = authenticate(request)
    if not caller.state.holds(caller.grant, permission):
        code, template = ("missing.permissions", MISSING_ALL) if all_of else ("missing.any.permissions", MISSING_ANY)
        raise ApiError(403, code, template, params={"permissions": f"[{permission}]"})
    return caller


def require_json(request: Request) -> None:
    """415 for a body that does not say it is JSON, as the platform answers."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            415,
            "unsupported.media.type",
            "Unsupported media type {mediaType}; use application/json.",
            params={"mediaType": media_type[:100] or "(none)"},
        )


async def read_body(request: Request) -> bytes:
    """The request body, refusing anything over Genesys' 512,000-byte limit with 413."""
    too_large = ApiError(
        413,
        "request.entity.too.large",
        "The request is over the size limit. Maximum bytes: {maxBytes}",
        params={"maxBytes": str(MAX_BODY_BYTES)},
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise too_large
    return body


def int_query(request: Request, name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"The value of {name} must be an integer, not {raw[:40]!r}.", (name, "invalid.value")) from None
    if value < low or (high is not None and value > high):
        limits = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise bad_request(f"The value of {name} must be {limits}.", (name, "invalid.value"))
    return value


def bool_query(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false")
    if raw.lower() not in ("true", "false"):
        raise bad_request(f"The value of {name} must be true or false, not {raw[:40]!r}.", (name, "invalid.value"))
    return raw.lower() == "true"


def choice_query(request: Request, name: str, choices: Sequence[str], default: str | None = None) -> str | None:
    """A query value from `choices` (case-insensitive), returned in the choices' spelling."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    match = next((choice for choice in choices if same(choice, raw)), None)
    if match is None:
        raise bad_request(f"The value of {name} must be one of {', '.join(choices)}, not {raw[:40]!r}.", (name, "invalid.value"))
    return match
