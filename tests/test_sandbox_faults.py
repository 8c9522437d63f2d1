"""Fault injection, over real uvicorn HTTP and in-process through httpx.ASGITransport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from conftest import Sandbox
from starlette.applications import Starlette
from test_sandbox_platform import assert_genesys_error

from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.faults import ROUTES, ConnectionDropped, Fault, FaultPlan, drop, drop_after, garbled, slow, status
from iac_mcp.sandbox.jobs import FAILURE_DEMO_ID
from iac_mcp.sandbox.settings import SandboxSettings

API = "/api/v2/infrastructureascode"
JOB = {"acceleratorId": FAILURE_DEMO_ID, "dryRun": True, "parameters": [{"name": "queue_name", "value": "Q"}]}
CODES = {
    429: "too.many.requests.retry.after",
    500: "internal.server.error",
    502: "bad.gateway",
    503: "service.unavailable",
    504: "gateway.timeout",
}


def call(client: httpx.Client, route: str) -> httpx.Response:
    """One request to a named route."""
    if route == "token":
        return client.post("/oauth/token", auth=("iac-mcp-sandbox", "sandbox-secret"), data={"grant_type": "client_credentials"})
    if route == "create_job":
        return client.post(f"{API}/jobs", json=JOB)
    if route == "authorize_submit":
        return client.post("/oauth/authorize", data={"form_token": "never-issued"})
    path = {
        "authorize_form": f"/oauth/authorize?{AUTHORIZE_QUERY}",
        "list_accelerators": f"{API}/accelerators",
        "get_accelerator": f"{API}/accelerators/{FAILURE_DEMO_ID}",
        "get_job": f"{API}/jobs/unknown-job",
        "list_jobs": f"{API}/jobs",
        "list_integrations": "/api/v2/integrations",
        "get_integration": "/api/v2/integrations/unknown-integration",
        "users_me": "/api/v2/users/me",
        "subjects_me": "/api/v2/authorization/subjects/me",
    }[route]
    return client.get(path)


AUTHORIZE_QUERY = urlencode({
    "response_type": "code", "client_id": "iac-mcp-sandbox-signin", "redirect_uri": "http://127.0.0.1:9/cb",
    "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256",
})  # fmt: skip
NORMAL = {
    "token": 200, "authorize_form": 200, "authorize_submit": 400, "create_job": 200, "list_accelerators": 200,
    "get_accelerator": 200, "get_job": 404, "list_jobs": 200, "list_integrations": 200, "get_integration": 404,
    "users_me": 400, "subjects_me": 400,
}  # fmt: skip
"""What each route answers a client-credentials token without a fault (no user: /me is a 400)."""


@pytest.mark.parametrize("code", sorted(CODES))
@pytest.mark.parametrize("route", ROUTES)
def test_status_faults_answer_without_processing(sandbox: Sandbox, route: str, code: int) -> None:
    sandbox.state.faults.add(route, status(code, retry_after=7) if code == 429 else status(code))
    tokens_before = sandbox.state.token_requests
    answer = call(sandbox.client, route)
    body = assert_genesys_error(answer, code, CODES[code])
    assert (answer.headers.get("Retry-After"), body["messageParams"]) == (
        ("7", {"retryAfter": "7"}) if code == 429 else (None, {})
    )
    assert sandbox.state.jobs_created == 0 and sandbox.state.token_requests == tokens_before
    assert call(sandbox.client, route).status_code == NORMAL[route]
    assert sandbox.state.requests[route] == 2 + (route == "token")


def test_429_fault_defaults_to_retry_after_1(sandbox: Sandbox) -> None:
    sandbox.state.faults.add("list_jobs", status(429))
    assert call(sandbox.client, "list_jobs").headers["Retry-After"] == "1"


def test_schedule_and_times(sandbox: Sandbox) -> None:
    faults = sandbox.state.faults
    faults.schedule("list_accelerators", [status(503), None, status(502)])
    faults.add("list_accelerators", status(504), times=2)
    codes = [call(sandbox.client, "list_accelerators").status_code for _ in range(6)]
    assert codes == [503, 200, 502, 504, 504, 200]
    faults.schedule("list_accelerators", [status(500)])
    faults.clear()
    assert call(sandbox.client, "list_accelerators").status_code == 200


def test_fault_plan_validates_its_input() -> None:
    plan = FaultPlan()
    with pytest.raises(ValueError, match="unknown route"):
        plan.add("create_jobs", drop())
    with pytest.raises(ValueError):
        status(404)
    with pytest.raises(ValueError):
        plan.probability("get_job", drop(), 1.5)
    with pytest.raises(ValueError):
        plan.add("get_job", drop(), times=0)


def sequence(seed: int) -> list[Fault | None]:
    plan = FaultPlan(seed)
    plan.probability("get_job", status(502), 0.5)
    return [plan.next_fault("get_job") for _ in range(40)]


def test_probability_replays_with_the_seed() -> None:
    assert sequence(3) == sequence(3) != sequence(4)
    assert 5 < sum(f is not None for f in sequence(3)) < 35


def test_probability_over_http_replays(start_sandbox: Callable[..., Sandbox]) -> None:
    def codes(seed: int) -> list[int]:
        box = start_sandbox(seed=seed)
        box.state.faults.probability("list_accelerators", status(502), 0.3)
        return [call(box.client, "list_accelerators").status_code for _ in range(25)]

    first = codes(11)
    assert first == codes(11) and {200, 502} == set(first)


def test_slow_delays_then_answers(sandbox: Sandbox) -> None:
    sandbox.state.faults.schedule("get_accelerator", [slow(0.5), slow(0.01)])
    with pytest.raises(httpx.ReadTimeout):
        sandbox.client.get(f"{API}/accelerators/{FAILURE_DEMO_ID}", timeout=0.05)
    assert call(sandbox.client, "get_accelerator").status_code == 200


# --- Dropped connections over real HTTP ------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_drop_over_http_is_a_transport_error(sandbox: Sandbox, route: str) -> None:
    sandbox.state.faults.add(route, drop())
    with pytest.raises(httpx.TransportError):
        call(sandbox.client, route)
    assert sandbox.state.jobs_created == 0
    assert call(sandbox.client, route).status_code == NORMAL[route]


def test_drop_after_creates_the_job_but_loses_the_answer(sandbox: Sandbox) -> None:
    sandbox.state.faults.add("create_job", drop_after())
    with pytest.raises(httpx.RemoteProtocolError):
        call(sandbox.client, "create_job")
    assert sandbox.state.jobs_created == 1
    [job] = sandbox.client.get(f"{API}/jobs").json()["entities"]
    assert job["id"] == next(iter(sandbox.state.jobs))


def test_garbled_creates_the_job_and_answers_html(sandbox: Sandbox) -> None:
    sandbox.state.faults.add("create_job", garbled())
    answer = call(sandbox.client, "create_job")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    with pytest.raises(ValueError):
        answer.json()
    assert sandbox.state.jobs_created == 1


def test_drop_after_on_token_issues_an_unseen_token(sandbox: Sandbox) -> None:
    sandbox.state.faults.add("token", drop_after())
    with pytest.raises(httpx.TransportError):
        call(sandbox.client, "token")
    assert sandbox.state.token_requests == 2


# --- Dropped connections in-process ----------------------------------------------------------


@pytest.fixture
def app() -> Starlette:
    return create_app(SandboxSettings(job_duration=0))


@pytest.fixture
async def asgi_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sandbox") as client:
        answer = await client.post(
            "/oauth/token", auth=("iac-mcp-sandbox", "sandbox-secret"), data={"grant_type": "client_credentials"}
        )
        client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        yield client


@pytest.mark.anyio
@pytest.mark.parametrize(("fault", "created"), [(drop(), 0), (drop_after(), 1)])
async def test_drop_in_process_is_a_transport_error(
    app: Starlette, asgi_client: httpx.AsyncClient, fault: Fault, created: int
) -> None:
    state: Any = app.state.sandbox
    state.faults.add("create_job", fault)
    with pytest.raises(httpx.TransportError) as raised:
        await asgi_client.post(f"{API}/jobs", json=JOB)
    assert isinstance(raised.value, (ConnectionDropped, httpx.RemoteProtocolError))
    assert state.jobs_created == created
    assert (await asgi_client.post(f"{API}/jobs", json=JOB)).status_code == 200


@pytest.mark.anyio
async def test_status_and_slow_faults_in_process(app: Starlette, asgi_client: httpx.AsyncClient) -> None:
    app.state.sandbox.faults.schedule("list_jobs", [status(503), slow(0.01), None])
    answers = [await asgi_client.get(f"{API}/jobs") for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 200, 200]
    assert answers[0].json()["contextId"] == answers[0].headers["ININ-Correlation-Id"]
