"""Upstream text is masked before it is used: an error body that echoes a credential or a
sensitive value the call carried never reaches a result, an error or a log line."""

from __future__ import annotations

import base64
import json
from functools import partial

import pytest
from mcp import Client
from servers import ERAS, SIGNING_KEY, all_descriptions, fresh_ledger, parameters_of, sandbox, server_settings, text_of
from starlette.types import ASGIApp, Receive, Scope, Send

from iac_mcp.demo import example_arguments
from iac_mcp.server.app import build_server
from iac_mcp.upstream import sandbox_client

pytestmark = pytest.mark.anyio

SECRET_VALUE = "echoed-sensitive-value-4711"


class Echoing:
    """An upstream that quotes what it was sent: the client secret on the token endpoint,
    the whole job body on a job submission (as a careless 400 would)."""

    def __init__(self, app: ASGIApp, *, token: bool) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and self.token and path == "/oauth/token":
            headers = dict(scope["headers"])
            await self._answer(send, 401, {"error": "invalid_client", "description": f"bad client {headers[b'authorization'].decode()} secret sandbox-secret"})
            return
        if scope["type"] == "http" and scope["method"] == "POST" and path.endswith("/jobs"):
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            await self._answer(send, 400, {"status": 400, "code": "bad.request", "message": f"rejected {body.decode()}"})
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(send: Send, status: int, payload: dict[str, object]) -> None:
        body = json.dumps(payload).encode()
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


@pytest.mark.parametrize("era", ERAS)
async def test_an_error_body_quoting_a_sensitive_value_is_masked(era: str, caplog: pytest.LogCaptureFixture) -> None:
    app = sandbox()
    wrapped = Echoing(app, token=False)
    wrapped.state = app.state  # type: ignore[attr-defined]  # sandbox_client reads the settings here
    server = build_server(partial(sandbox_client, wrapped), server_settings(), ledger=fresh_ledger(), signing_key=SIGNING_KEY)
    async with Client(server, mode=era) as client:
        target = next(d for d in await all_descriptions(client) if any(p["sensitive"] and p["type"] == "string" for p in parameters_of(d)))
        params = example_arguments(target["parameters_schema"], include_optional=True)
        params[next(p["name"] for p in parameters_of(target) if p["sensitive"] and p["type"] == "string")] = SECRET_VALUE
        result = await client.call_tool("submit-job", {"accelerator_id": target["id"], "parameters": params})
    assert result.is_error and "rejected" in text_of(result), text_of(result)
    assert SECRET_VALUE not in text_of(result) and "********" in text_of(result)
    assert SECRET_VALUE not in caplog.text


@pytest.mark.parametrize("era", ERAS)
async def test_a_token_endpoint_echoing_the_client_secret_is_masked(era: str, caplog: pytest.LogCaptureFixture) -> None:
    app = sandbox()
    wrapped = Echoing(app, token=True)
    wrapped.state = app.state  # type: ignore[attr-defined]
    server = build_server(partial(sandbox_client, wrapped), server_settings(), ledger=fresh_ledger(), signing_key=SIGNING_KEY)
    async with Client(server, mode=era) as client:
        result = await client.call_tool("list-accelerators", {})
    said = text_of(result)
    assert result.is_error and "OAuth token request failed" in said, said
    settings = app.state.sandbox.settings
    basic = base64.b64encode(f"{settings.client_id}:{settings.client_secret}".encode()).decode()
    for secret in (settings.client_secret, basic):
        assert secret not in said and secret not in caplog.text
