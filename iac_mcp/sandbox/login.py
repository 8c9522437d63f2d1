"""The token endpoint: Genesys' client-credentials grant, and the authorization-code grant
with PKCE (`signin.py`) for a confidential client (Basic auth) or a public sign-in client."""

from __future__ import annotations

import base64
import binascii

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from iac_mcp.sandbox.checks import read_body, sandbox
from iac_mcp.sandbox.settings import SandboxOrg
from iac_mcp.sandbox.signin import exchange, oauth_error, public_client, token_answer
from iac_mcp.sandbox.state import SandboxState
from iac_mcp.sandbox.vocabulary import same


def _client(request: Request, state: SandboxState, form: FormData) -> tuple[SandboxOrg, str, bool] | None:
    """(org, client id, confidential) of the authenticated client, or None.

    With an `Authorization` header it must be Basic with a confidential client's id and
    secret; without one, the form's `client_id` must be a public sign-in client.
    """
    form_client = form.get("client_id")
    header = request.headers.get("authorization")
    if header is None:
        org = public_client(state, form_client) if isinstance(form_client, str) else None
        return (org, org.signin_client_id, False) if org is not None else None
    scheme, _, encoded = header.partition(" ")
    try:
        client_id, _, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    org = state.confidential_client(client_id, secret) if same(scheme, "basic") else None
    if org is None or form_client not in (None, client_id):
        return None
    return org, client_id, True


async def token(request: Request) -> Response:
    """Answer like login.<region>: `{access_token, token_type, expires_in}`."""
    state = sandbox(request)
    await read_body(request)
    form = await request.form()
    client = _client(request, state, form)
    if client is None:
        return oauth_error(401, "invalid_client", "client not found or secret incorrect")
    org, client_id, confidential = client
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        return exchange(state, client_id, form)
    if grant_type != "client_credentials":
        return oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials or authorization_code")
    if not confidential:
        return oauth_error(400, "unauthorized_client", "a public sign-in client may only use the authorization_code grant")
    return token_answer(state, state.issue_token(org))
