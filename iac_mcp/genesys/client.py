"""The async client of the Genesys Cloud Infrastructure-as-Code API.

One pooled `httpx.AsyncClient` carries every request, the token requests included, with a
timeout on each phase. Responses are parsed into the wire models; failures become the
typed errors of `iac_mcp.genesys.errors`. See `retry` for what is resent and when.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import ValidationError

from iac_mcp.genesys.auth import ClientCredentials, StaticToken
from iac_mcp.genesys.config import GenesysConfig
from iac_mcp.genesys.errors import UnexpectedResponseError, error_from_response
from iac_mcp.genesys.ids import validate_id
from iac_mcp.genesys.models import (
    AcceleratorInput,
    AcceleratorList,
    AcceleratorSpecification,
    InfrastructureascodeJob,
    parse_job_history,
)
from iac_mcp.genesys.pacing import PacingTransport, SlidingWindowLimiter
from iac_mcp.genesys.retry import RetryPolicy, RetryTransport

logger = logging.getLogger("iac_mcp.genesys")

API_PREFIX = "/api/v2/infrastructureascode"
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=30.0, pool=10.0)
"""Every request is bounded in each phase; a job submission answers once it is queued."""

_STATIC_TOKEN_REJECTED = (
    "GENESYSCLOUD_ACCESS_TOKEN is invalid or expired, and a ready token cannot be renewed: "
    "supply a new one, or configure an OAuth client instead"
)
_REFRESHED_TOKEN_REJECTED = "a freshly issued token was rejected too: check that the OAuth client is active"

T = TypeVar("T")
QueryValue = str | int | bool | Sequence[str] | None


class IacClient:
    """Typed access to accelerators and jobs.

    Use it as an async context manager, or call `aclose()`. `transport` replaces the
    network (for instance `httpx.ASGITransport` over the in-process sandbox). `pacer`
    spaces out every request this client sends, retries and token requests included, to
    stay under the per-token rate limit (default: 300 a minute).
    """

    def __init__(
        self,
        config: GenesysConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | None = None,
        clock: Callable[[], float] = time.monotonic,
        pacer: SlidingWindowLimiter | None = None,
    ) -> None:
        self.config = config
        inner = transport or httpx.AsyncHTTPTransport()
        self.auth: StaticToken | ClientCredentials
        if config.access_token:
            self.auth = StaticToken(config.access_token)
        else:
            assert config.client_id and config.client_secret  # guaranteed by GenesysConfig
            self.auth = ClientCredentials(config.login_base, config.client_id, config.client_secret, clock=clock)
        self._http = httpx.AsyncClient(
            transport=RetryTransport(PacingTransport(inner, pacer or SlidingWindowLimiter()), retry or RetryPolicy()),
            auth=self.auth,
            timeout=timeout or DEFAULT_TIMEOUT,
            headers={"Accept": "application/json"},
            follow_redirects=False,
            trust_env=False,
        )

    def __repr__(self) -> str:
        return f"IacClient(api_base={self.config.api_base!r})"

    def credentials(self) -> tuple[str, ...]:
        """Every secret this client holds (client secret, ready or current token), for masking
        any text that came from upstream: an error body may echo them."""
        pair = f"{self.config.client_id}:{self.config.client_secret}" if self.config.client_secret else None
        basic = base64.b64encode(pair.encode()).decode("ascii") if pair else None
        held = (self.config.client_secret, basic, self.config.access_token, self.auth.current_token)
        return tuple(value for value in held if value)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # --- Accelerators ---------------------------------------------------------------

    async def list_accelerators(
        self,
        *,
        page_size: int | None = None,
        page_number: int | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
        name: str | None = None,
        description: str | None = None,
        origin: str | None = None,
        type: str | None = None,
        classification: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> AcceleratorList:
        """One page of the accelerator catalogue.

        `tags` goes on the wire as one comma-separated `tags` value: every SDK declares the
        parameter as a single string.
        """
        response = await self._call(
            "GET",
            f"{API_PREFIX}/accelerators",
            params={
                "pageSize": page_size,
                "pageNumber": page_number,
                "sortBy": sort_by,
                "sortOrder": sort_order,
                "name": name,
                "description": description,
                "origin": origin,
                "type": type,
                "classification": classification,
                "tags": tags,
            },
        )
        return _parse(response, AcceleratorList.model_validate)

    async def get_accelerator(self, accelerator_id: str, *, preferred_language: str | None = None) -> AcceleratorSpecification:
        """An accelerator's full specification: parameters, permissions, documentation."""
        path = f"{API_PREFIX}/accelerators/{validate_id(accelerator_id, 'accelerator id')}"
        response = await self._call("GET", path, params={"preferredLanguage": preferred_language})
        return _parse(response, AcceleratorSpecification.model_validate)

    # --- Jobs -----------------------------------------------------------------------

    async def create_job(self, body: AcceleratorInput) -> InfrastructureascodeJob:
        """Submit a job (a dry run when `body.dry_run`).

        Never resent once it may have reached Genesys: a dropped connection or timeout raises
        `TransportError(maybe_processed=True)` and a 5xx raises `ServerError`; in both cases the
        job may exist, so look at the job history before submitting again.
        """
        validate_id(body.accelerator_id, "accelerator id")
        response = await self._call("POST", f"{API_PREFIX}/jobs", json=body.to_wire())
        return _parse(response, InfrastructureascodeJob.model_validate)

    async def get_job(self, job_id: str, *, details: bool = False) -> InfrastructureascodeJob:
        """A job's status; with `details`, its Terraform output and error information."""
        path = f"{API_PREFIX}/jobs/{validate_id(job_id, 'job id')}"
        response = await self._call("GET", path, params={"details": details})
        return _parse(response, InfrastructureascodeJob.model_validate)

    async def list_jobs(
        self,
        *,
        max_results: int | None = None,
        include_errors: bool | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
        accelerator_id: str | None = None,
        submitted_by: str | None = None,
        status: str | None = None,
    ) -> list[InfrastructureascodeJob]:
        """Job history, newest first by default. Genesys returns only one job unless
        `max_results` says otherwise; the answer may be a job, a listing or an array."""
        response = await self._call(
            "GET",
            f"{API_PREFIX}/jobs",
            params={
                "maxResults": max_results,
                "includeErrors": include_errors,
                "sortBy": sort_by,
                "sortOrder": sort_order,
                "acceleratorId": accelerator_id,
                "submittedBy": submitted_by,
                "status": status,
            },
        )
        return _parse(response, parse_job_history)

    # --- Plumbing -------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, QueryValue] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send through the layers (auth, retries, pacing); a non-2xx answer becomes a typed error."""
        response = await self._http.request(method, self.config.api_base + path, params=_query(params or {}), json=json)
        if response.is_success:
            return response
        hint = None
        if response.status_code == 401:
            hint = _REFRESHED_TOKEN_REJECTED if self.auth.can_refresh else _STATIC_TOKEN_REJECTED
        raise error_from_response(response, hint=hint)


def _query(params: Mapping[str, QueryValue]) -> dict[str, str]:
    """Query parameters as Genesys expects them: None omitted, booleans as `true`/`false`."""
    query: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            query[key] = "true" if value else "false"
        elif isinstance(value, (str, int)):
            query[key] = str(value)
        else:
            query[key] = ",".join(value)
    return query


def _parse(response: httpx.Response, parse: Callable[[Any], T]) -> T:
    """The model of a 2xx answer; a body that does not fit is an `UnexpectedResponseError`."""
    try:
        return parse(response.json())
    except ValidationError as exc:  # its text quotes the body, which may hold a secret
        raise _unreadable(response, type(exc).__name__) from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, or our own shape check naming the keys
        detail = str(exc) if type(exc) is ValueError else type(exc).__name__
        raise _unreadable(response, detail) from exc


def _unreadable(response: httpx.Response, detail: str) -> UnexpectedResponseError:
    return UnexpectedResponseError(
        f"Genesys answered {response.status_code} to {response.request.method} {response.request.url.path} "
        f"with a body the client cannot read ({detail})."
    )
