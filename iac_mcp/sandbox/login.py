"""The login endpoint: Genesys' OAuth client-credentials grant."""

from __future__ import annotations

import base64
import binascii

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from iac_mcp.sandbox.checks import read_body, sandbox
from iac_mcp.sandbox.vocabulary import same


def oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "description": description, "error_description": description}, status_code=status)


async def token(request: Request) -> Response:
    """Answer like login.<region>: `{access_token, token_type, expires_in}`."""
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
