"""The sandbox's HTTP API: one route table for the login endpoints, the five IaC routes and
what each org holds (integrations, and the signed-in user).

The table (`ENDPOINTS`) serves two readers: Starlette routes requests to the handlers,
and the `Gateway` names each request (for counts and faults) from the same entries.
Errors are raised as `ApiError` and rendered once, as Genesys' error body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from iac_mcp.sandbox import accelerator_routes, job_routes, login, org_routes, signin
from iac_mcp.sandbox.checks import ApiError
from iac_mcp.sandbox.errors import error_response
from iac_mcp.sandbox.gateway import Gateway
from iac_mcp.sandbox.orgs import INTEGRATIONS_PATH
from iac_mcp.sandbox.settings import SandboxSettings
from iac_mcp.sandbox.state import SandboxState

PREFIX = "/api/v2/infrastructureascode"


@dataclass(frozen=True)
class Endpoint:
    """One route: its name in counts and fault plans (`faults.ROUTES`), method, path and handler."""

    name: str
    method: str
    path: str
    handler: Callable[[Request], Awaitable[Response]]


ENDPOINTS = (
    Endpoint("token", "POST", "/oauth/token", login.token),
    Endpoint("authorize_form", "GET", signin.AUTHORIZE_PATH, signin.authorize_form),
    Endpoint("authorize_submit", "POST", signin.AUTHORIZE_PATH, signin.authorize_submit),
    Endpoint("list_accelerators", "GET", f"{PREFIX}/accelerators", accelerator_routes.list_accelerators),
    Endpoint("get_accelerator", "GET", f"{PREFIX}/accelerators/{{acceleratorId}}", accelerator_routes.get_accelerator),
    Endpoint("create_job", "POST", f"{PREFIX}/jobs", job_routes.create_job),
    Endpoint("list_jobs", "GET", f"{PREFIX}/jobs", job_routes.list_jobs),
    Endpoint("get_job", "GET", f"{PREFIX}/jobs/{{jobId}}", job_routes.get_job),
    Endpoint("list_integrations", "GET", INTEGRATIONS_PATH, org_routes.list_integrations),
    Endpoint("get_integration", "GET", f"{INTEGRATIONS_PATH}/{{integrationId}}", org_routes.get_integration),
    Endpoint("users_me", "GET", "/api/v2/users/me", org_routes.users_me),
    Endpoint("subjects_me", "GET", "/api/v2/authorization/subjects/me", org_routes.subjects_me),
)


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
        routes = [(e.method, e.path, e.name) for e in ENDPOINTS]
        return Gateway(super().build_middleware_stack(), self.state.sandbox, routes)


def create_app(settings: SandboxSettings | None = None) -> Starlette:
    """A sandbox app; its live state is `app.state.sandbox` (a `SandboxState`)."""
    app = SandboxApp(
        routes=[Route(e.path, e.handler, methods=[e.method]) for e in ENDPOINTS],
        exception_handlers={ApiError: api_error, HTTPException: http_error},
    )
    app.state.sandbox = SandboxState(settings or SandboxSettings())
    return app
