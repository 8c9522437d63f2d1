"""Two server processes, one shared sandbox, one client alternating between them per request.

Stateless HTTP plus keys derived from one IAC_MCP_SIGNING_KEY mean no request depends on
the process that served the previous one: the plan token and mcp's sealed request_state
(the consent question's round trip) must verify on the other replica.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from http_support import SIGNING_SECRET, TOKEN, Consenting, cli, free_port, http_client, run_flow, server_process
from mcp import Client
from postgres_support import postgres_cluster, postgres_url  # noqa: F401 - fixtures
from servers import text_of

from iac_mcp.demo import example_arguments
from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.faults import drop_after
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


def replica_env(sandbox_url: str, database_url: str, **extra: str) -> dict[str, str]:
    """What every replica shares: the upstream, the signing key, the tokens, the ledger."""
    return {
        "GENESYSCLOUD_API_REGION": sandbox_url,
        "GENESYSCLOUD_OAUTHCLIENT_ID": DEFAULT_CLIENT_ID,
        "GENESYSCLOUD_OAUTHCLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "IAC_MCP_SIGNING_KEY": SIGNING_SECRET,
        "IAC_MCP_HTTP_TOKENS": TOKEN,
        "IAC_MCP_DATABASE_URL": database_url,
        **extra,
    }


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[list[int]]:
    """Two `iac-mcp serve --http` processes over one sandbox served on real HTTP."""
    with ExitStack() as stack:
        sandbox_url = stack.enter_context(running_sandbox(SandboxSettings(job_duration=1)))
        env = replica_env(sandbox_url, f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
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


@pytest.mark.slow
async def test_100_real_runs_from_10_plans_on_two_replicas_sharing_postgresql(postgres_url: str, tmp_path: Path) -> None:
    """Two server processes, one PostgreSQL ledger, the sandbox losing half the answers after
    creating the job: exactly one real job per plan, none reported twice, the rest "unknown"
    or refused naming the job the plan backed."""
    app = create_app(SandboxSettings(job_duration=0, seed=5))
    outcomes: list[tuple[str, str | None]] = []
    with ExitStack() as stack:
        sandbox_url = stack.enter_context(running_sandbox(app=app))
        env = replica_env(sandbox_url, postgres_url, IAC_MCP_CONSENT="plan-token")
        urls = []
        for _ in range(2):
            port = free_port()
            urls.append(stack.enter_context(server_process(cli("serve", "--http", "--port", str(port)), env, port)))
        async with http_client(urls[0], "auto") as one, http_client(urls[1], "auto") as two:
            listing = await one.call_tool("list-accelerators", {"name": "Simple Queue"})
            target = listing.structured_content["accelerators"][0]["id"]
            described = await one.call_tool("describe-accelerator", {"accelerator_id": target})
            schema = described.structured_content["parameters_schema"]
            plans = []
            for i in range(10):
                params = dict(example_arguments(schema), queue_name=f"replica-queue-{i}")
                planned = await one.call_tool("submit-job", {"accelerator_id": target, "parameters": params})
                assert not planned.is_error, text_of(planned)
                await one.call_tool("get-job", {"job_id": planned.structured_content["job"]["id"], "wait_seconds": 10})
                plans.append((params, planned.structured_content["plan_token"]))
            await two.call_tool("list-jobs", {})  # replica two is warm too
            app.state.sandbox.faults.probability("create_job", drop_after(), 0.5)

            async def apply(client: Client, params: dict[str, Any], token: str) -> None:
                arguments = {"accelerator_id": target, "parameters": params, "dry_run": False, "plan_token": token}
                result = await client.call_tool("submit-job", arguments)
                outcomes.append((text_of(result), None if result.is_error else result.structured_content["job"]["id"]))

            async with anyio.create_task_group() as tasks:
                for params, token in plans:
                    for k in range(10):
                        tasks.start_soon(apply, one if k % 2 else two, params, token)
    real = [job for job in app.state.sandbox.jobs.values() if not job.dry_run]
    assert len(outcomes) == 100
    assert len(real) == 10, f"{len(real)} real jobs from 10 plans"
    named = [job for _, job in outcomes if job]
    assert len(named) == len(set(named)) and set(named) <= {job.id for job in real}
    for text, job in outcomes:
        assert job or any(words in text for words in ("already backed", "Outcome unknown", "being used", "used by another")), text
    unknown = sum("Outcome unknown" in text for text, job in outcomes if not job)
    print(f"\n100 real runs from 10 plans: {len(real)} real jobs, {len(named)} reported, {unknown} unknown, "
          f"{100 - len(named) - unknown} refused naming the plan's job or its in-flight run")
