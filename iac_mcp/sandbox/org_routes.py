"""What a token's org holds: `GET /api/v2/integrations[/{id}]`, and for a signed-in user
`GET /api/v2/users/me` and `GET /api/v2/authorization/subjects/me`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from iac_mcp.sandbox.checks import ApiError, Caller, authenticate, authorize
from iac_mcp.sandbox.orgs import INTEGRATIONS_PATH, integrations, subject_wire, user_wire
from iac_mcp.sandbox.paging import page_of, page_query
from iac_mcp.sandbox.settings import SandboxUser
from iac_mcp.sandbox.vocabulary import VIEW_INTEGRATIONS

NOT_A_USER = "This request requires a user context. Client credentials cannot be used for requests to this resource."


async def list_integrations(request: Request) -> Response:
    caller = authorize(request, VIEW_INTEGRATIONS)
    page = page_query(request)
    return JSONResponse(page_of(request, INTEGRATIONS_PATH, [i.wire() for i in integrations(caller.org.name)], page))


async def get_integration(request: Request) -> Response:
    caller = authorize(request, VIEW_INTEGRATIONS)
    wanted = request.path_params["integrationId"]
    found = next((i for i in integrations(caller.org.name) if i.id.casefold() == wanted.casefold()), None)
    if found is None:
        raise ApiError(404, "resource.not.found", "Integration {id} not found.", params={"id": wanted[:100]})
    return JSONResponse(found.wire())


def _signed_in(caller: Caller) -> SandboxUser:
    """The token's user; a client-credentials token has none (Genesys answers 400)."""
    if caller.grant.user is None:
        raise ApiError(400, "bad.request", NOT_A_USER)
    return caller.grant.user


async def users_me(request: Request) -> Response:
    return JSONResponse(user_wire(_signed_in(authenticate(request))))


async def subjects_me(request: Request) -> Response:
    return JSONResponse(subject_wire(_signed_in(authenticate(request))))
