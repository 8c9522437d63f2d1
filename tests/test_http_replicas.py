"""Two server processes, one shared sandbox, one client alternating between them per request.

Stateless HTTP plus keys derived from one IAC_MCP_SIGNING_KEY mean no request depends on
the process that served the previous one: the plan token and mcp's sealed request_state
(the consent question's round trip) must verify on the other replica.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import httpx2
import pytest
from http_support import SIGNING_SECRET, TOKEN, Consenting, cli, free_port, http_client, run_flow, server_process

from iac_mcp.sandbox.serve import running_sandbox
from iac_mcp.sandbox.settings import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SandboxSettings

pytestmark = pytest.mark.anyio


class RoundRobin(httpx2.AsyncBaseTransport):
    """Sends each request to the next replica's port in turn, whatever URL the client used."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.sent: list[int] = []
        self._inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = self.ports[len(self.sent) % len(self.ports)]
        self.sent.append(port)
        request.url = request.url.copy_with(port=port)
        request.headers["Host"] = f"{request.url.host}:{port}"
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
def replicas() -> Iterator[list[int]]:
    """Two `iac-mcp serve --http` processes over one sandbox served on real HTTP."""
    with ExitStack() as stack:
        sandbox_url = stack.enter_context(running_sandbox(SandboxSettings(job_duration=1)))
        env = {
            "GENESYSCLOUD_API_REGION": sandbox_url,
            "GENESYSCLOUD_OAUTHCLIENT_ID": DEFAULT_CLIENT_ID,
            "GENESYSCLOUD_OAUTHCLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "IAC_MCP_SIGNING_KEY": SIGNING_SECRET,
            "IAC_MCP_HTTP_TOKENS": TOKEN,
        }
        ports = [free_port(), free_port()]
        for port in ports:
            stack.enter_context(
                server_process(cli("serve", "--http", "--port", str(port), "--uvicorn-log-level", "warning"), env, port)
            )
        yield ports


async def test_whole_flow_alternating_between_two_replicas(replicas: list[int]) -> None:
    transport = RoundRobin(replicas)
    consent = Consenting()
    http = httpx2.AsyncClient(
        transport=transport, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(30, read=90)
    )
    async with http_client(f"http://127.0.0.1:{replicas[0]}", "auto", http=http, elicitation_callback=consent) as client:
        flow = await run_flow(client)
    assert flow.final["status"] == "Complete" and flow.final["dry_run"] is False
    assert consent.questions, "the consent round trip (sealed request_state) must cross replicas"
    assert set(transport.sent) == set(replicas)
    assert all(a != b for a, b in zip(transport.sent, transport.sent[1:]))
