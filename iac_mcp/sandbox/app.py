"""The sandbox's HTTP API: the Genesys login endpoint and the five IaC routes.

Each route checks, in Genesys' order, the bearer token (401), the per-token rate limit
(429) and the permission (403), then its query parameters or body (400/413/404).
Errors are raised as `ApiError` and rendered once, as Genesys' error body.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, get_args
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from iac_mcp.genesys.models import (
    RUNNING_STATUSES,
    TERMINAL_STATUSES,
    AcceleratorInput,
    AcceleratorType,
    Origin,
    PreferredLanguage,
    same,
)
from iac_mcp.logic.forms import validate_parameters
from iac_mcp.sandbox.catalog import ACCELERATORS_PATH, CatalogEntry
from iac_mcp.sandbox.errors import error_response
from iac_mcp.sandbox.gateway import Gateway
from iac_mcp.sandbox.jobs import Job
from iac_mcp.sandbox.settings import SandboxSettings
from iac_mcp.sandbox.state import SandboxState

MAX_BODY_BYTES = 512_000
VIEW_ACCELERATORS = "infrastructureascode:accelerator:view"
ADD_JOB = "infrastructureascode:job:add"
VIEW_JOBS = "infrastructureascode:job:view"
ORIGINS = get_args(Origin)
TYPES = get_args(AcceleratorType)
LANGUAGES = get_args(PreferredLanguage)
JOB_STATUSES = RUNNING_STATUSES + TERMINAL_STATUSES
ACCELERATOR_SORTS: dict[str, Callable[[CatalogEntry], str]] = {
    "name": lambda e: e.spec.name,
    "id": lambda e: e.spec.id,
    "type": lambda e: e.spec.type or "",
    "origin": lambda e: e.spec.origin or "",
    "classification": lambda e: e.spec.classification or "",
}


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


# --- Checks shared by the routes ---------------------------------------------------


def authorize(request: Request, permission: str) -> SandboxState:
    """Token (401), rate limit (429), then permission (403)."""
    state = sandbox(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if not same(scheme, "bearer") or not state.token_valid(token.strip()):
        raise ApiError(401, "bad.credentials", "Invalid login credentials.")
    retry_after = state.rate_limited(token.strip())
    if retry_after is not None:
        raise ApiError(
            429,
            "too.many.requests.retry.after",
            "Rate limit exceeded the maximum. Retry the request in [{retryAfter}] seconds",
            params={"retryAfter": str(retry_after)},
            headers={"Retry-After": str(retry_after)},
        )
    if permission in state.settings.missing_permissions:
        raise ApiError(
            403,
            "missing.any.permissions",
            "Unable to perform the requested action. You must have at least one of the following permissions assigned: {permissions}",
            params={"permissions": f"[{permission}]"},
        )
    return state


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


# --- Login -------------------------------------------------------------------------


def oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "description": description, "error_description": description}, status_code=status)


async def token(request: Request) -> Response:
    """Client-credentials grant, answering like login.<region>: `{access_token, token_type, expires_in}`."""
    state = sandbox(request)
    await read_body(request)
    form = await request.form()
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    try:
        client_id, _, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        client_id = secret = ""
    if not same(scheme, "basic") or (client_id, secret) != (state.settings.client_id, state.settings.client_secret):
        return oauth_error(401, "invalid_client", "client not found or secret incorrect")
    if form.get("grant_type") != "client_credentials":
        return oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    return JSONResponse(
        {"access_token": state.issue_token(), "token_type": "bearer", "expires_in": int(state.settings.token_lifetime)}
    )


# --- Accelerators ------------------------------------------------------------------


def _filter(request: Request) -> Callable[[CatalogEntry], bool]:
    """The listing's filters, read from the query once per request rather than once per entry."""
    query = request.query_params
    contains = [(f, query[f].casefold()) for f in ("name", "description") if query.get(f)]
    equals = [(f, query[f]) for f in ("origin", "type", "classification") if query.get(f)]
    tags = [t.strip() for raw in query.getlist("tags") for t in raw.split(",") if t.strip()]

    def matches(entry: CatalogEntry) -> bool:
        spec = entry.spec
        return (
            all(wanted in (getattr(spec, f) or "").casefold() for f, wanted in contains)
            and all(same(wanted, getattr(spec, f)) for f, wanted in equals)
            and (not tags or any(same(tag, have) for tag in tags for have in spec.tags))
        )

    return matches


def _page_uri(request: Request, page_size: int, page_number: int) -> str:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("pageSize", "pageNumber")]
    return f"{ACCELERATORS_PATH}?{urlencode([('pageSize', page_size), ('pageNumber', page_number), *kept])}"


async def list_accelerators(request: Request) -> Response:
    state = authorize(request, VIEW_ACCELERATORS)
    page_size = int_query(request, "pageSize", 25, 1, 100)
    page_number = int_query(request, "pageNumber", 1, 1)
    choice_query(request, "origin", ORIGINS)
    choice_query(request, "type", TYPES)
    sort_by = choice_query(request, "sortBy", tuple(ACCELERATOR_SORTS), "name")
    descending = choice_query(request, "sortOrder", ("asc", "desc"), "asc") == "desc"
    sort_key = ACCELERATOR_SORTS[str(sort_by)]
    found = sorted(
        filter(_filter(request), state.catalog.values()),
        key=lambda e: (sort_key(e).casefold(), e.spec.id),
        reverse=descending,
    )
    total = len(found)
    page_count = math.ceil(total / page_size)
    start = (page_number - 1) * page_size
    body: dict[str, Any] = {
        "entities": [e.metadata() for e in found[start : start + page_size]],
        "pageSize": page_size,
        "pageNumber": page_number,
        "total": total,
        "pageCount": page_count,
        "firstUri": _page_uri(request, page_size, 1),
        "lastUri": _page_uri(request, page_size, max(page_count, 1)),
        "selfUri": _page_uri(request, page_size, page_number),
    }
    if page_number < page_count:
        body["nextUri"] = _page_uri(request, page_size, page_number + 1)
    if page_number > 1:
        body["previousUri"] = _page_uri(request, page_size, min(page_number - 1, max(page_count, 1)))
    return JSONResponse(body)


def _accelerator(state: SandboxState, accelerator_id: str) -> CatalogEntry | None:
    return state.catalog.get(accelerator_id)


async def get_accelerator(request: Request) -> Response:
    state = authorize(request, VIEW_ACCELERATORS)
    choice_query(request, "preferredLanguage", LANGUAGES)
    accelerator_id = request.path_params["acceleratorId"]
    entry = _accelerator(state, accelerator_id)
    if entry is None:
        raise ApiError(404, "resource.not.found", "Accelerator {id} not found.", params={"id": accelerator_id[:100]})
    return JSONResponse(entry.wire())


# --- Jobs ----------------------------------------------------------------------------


def _job_input(body: bytes) -> AcceleratorInput:
    try:
        payload = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("The request body is not valid JSON.", ("body", "invalid.json")) from None
    if not isinstance(payload, dict):
        raise bad_request("The request body must be a JSON object (AcceleratorInput).", ("body", "invalid.value"))
    try:
        return AcceleratorInput.model_validate(payload)
    except ValidationError as exc:
        details = [(".".join(str(p) for p in err["loc"]), str(err["type"])) for err in exc.errors()]
        names = ", ".join(f"{field} ({code})" for field, code in details)
        raise bad_request(f"Invalid job request: {names}.", *details) from None


def _job_values(entry: CatalogEntry, request_input: AcceleratorInput) -> dict[str, str]:
    """The parameters with defaults applied, validated with the MCP server's own form validator."""
    values: dict[str, str] = {}
    duplicates = []
    for parameter in request_input.parameters:
        if parameter.name in values:
            duplicates.append((parameter.name, "duplicate"))
        values[parameter.name] = parameter.value
    wire, problems = validate_parameters(entry.form, values)
    details = duplicates + [(p.parameter, p.kind) for p in problems]
    if details:
        messages = [f"{name!r} is given more than once." for name, _ in duplicates] + [p.message for p in problems]
        raise bad_request(f"Invalid parameters for accelerator {entry.spec.id}: " + " ".join(messages), *details)
    return wire


def _job_json(state: SandboxState, job: Job, *, results: bool, errors: bool) -> dict[str, object]:
    settings = state.settings
    return job.wire(state.now(), settings.job_duration, results=results, errors=errors, colour=settings.ansi_colour)


async def create_job(request: Request) -> Response:
    state = authorize(request, ADD_JOB)
    request_input = _job_input(await read_body(request))
    entry = _accelerator(state, request_input.accelerator_id)
    if entry is None:
        raise bad_request(
            f"Accelerator {request_input.accelerator_id[:100]} does not exist.", ("acceleratorId", "not.found")
        )
    job = state.create_job(entry, request_input.dry_run, _job_values(entry, request_input))
    body = _job_json(state, job, results=False, errors=False)
    body["status"] = "Created"
    return JSONResponse(body)


async def get_job(request: Request) -> Response:
    state = authorize(request, VIEW_JOBS)
    details = bool_query(request, "details")
    job = state.jobs.get(request.path_params["jobId"])
    if job is None:
        raise ApiError(404, "resource.not.found", "Job {id} not found.", params={"id": request.path_params["jobId"][:100]})
    return JSONResponse(_job_json(state, job, results=details, errors=details))


async def list_jobs(request: Request) -> Response:
    state = authorize(request, VIEW_JOBS)
    max_results = int_query(request, "maxResults", 1, 1)
    include_errors = bool_query(request, "includeErrors")
    sort_by = choice_query(request, "sortBy", ("id", "dateSubmitted", "submittedBy", "acceleratorId", "status"), "dateSubmitted")
    descending = choice_query(request, "sortOrder", ("asc", "desc"), "desc") == "desc"
    status = choice_query(request, "status", JOB_STATUSES)
    query = request.query_params
    now, duration = state.now(), state.settings.job_duration
    keys: dict[str, Callable[[Job], Any]] = {
        "id": lambda j: j.id,
        "dateSubmitted": lambda j: j.submitted_at,
        "submittedBy": lambda j: j.submitted_by,
        "acceleratorId": lambda j: j.entry.spec.id,
        "status": lambda j: j.status_at(now, duration),
    }
    jobs = [
        j
        for j in state.jobs.values()
        if (not query.get("acceleratorId") or same(query["acceleratorId"], j.entry.spec.id))
        and (not query.get("submittedBy") or same(query["submittedBy"], j.submitted_by))
        and (status is None or j.status_at(now, duration) == status)
    ]
    key = keys[str(sort_by)]
    jobs.sort(key=lambda j: (key(j), j.sequence), reverse=descending)
    return JSONResponse({"entities": [_job_json(state, j, results=False, errors=include_errors) for j in jobs[:max_results]]})


# --- Application ---------------------------------------------------------------------


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(
        request, exc.status, exc.code, exc.template, params=exc.params, details=exc.details, headers=exc.headers
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not.found", 405: "method.not.allowed"}
    return error_response(request, exc.status_code, codes.get(exc.status_code, "bad.request"), str(exc.detail))


class SandboxApp(Starlette):
    """Starlette with the `Gateway` outermost, so faults bypass Starlette's 500 handler."""

    def build_middleware_stack(self) -> ASGIApp:
        return Gateway(super().build_middleware_stack(), self.state.sandbox)


def create_app(settings: SandboxSettings | None = None) -> Starlette:
    """A sandbox app; its live state is `app.state.sandbox` (a `SandboxState`)."""
    prefix = "/api/v2/infrastructureascode"
    app = SandboxApp(
        routes=[
            Route("/oauth/token", token, methods=["POST"]),
            Route(f"{prefix}/accelerators", list_accelerators, methods=["GET"]),
            Route(f"{prefix}/accelerators/{{acceleratorId}}", get_accelerator, methods=["GET"]),
            Route(f"{prefix}/jobs", create_job, methods=["POST"]),
            Route(f"{prefix}/jobs", list_jobs, methods=["GET"]),
            Route(f"{prefix}/jobs/{{jobId}}", get_job, methods=["GET"]),
        ],
        exception_handlers={ApiError: api_error, HTTPException: http_error},
    )
    app.state.sandbox = SandboxState(settings or SandboxSettings())
    return app
