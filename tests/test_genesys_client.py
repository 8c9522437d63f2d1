"""IacClient against the sandbox over real HTTP (uvicorn on 127.0.0.1, a free port).

Each test gets a fresh sandbox whose clock is a fake shared with the client's token cache,
so expiry is driven by hand, and a retry policy whose `sleep` only records the delays.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pytest

from iac_mcp.genesys import (
    AuthenticationError,
    BadRequestError,
    GenesysConfig,
    IacClient,
    InvalidIdError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    TransportError,
    UnauthorizedError,
)
from iac_mcp.genesys.models import AcceleratorInput, JobParameter
from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.faults import drop, drop_after, slow, status
from iac_mcp.sandbox.serve import running_sandbox
from iac_mcp.sandbox.settings import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SandboxSettings
from iac_mcp.sandbox.state import SandboxState

pytestmark = pytest.mark.anyio

PREFIX = "/api/v2/infrastructureascode"


class Recorder(httpx.AsyncBaseTransport):
    """A real HTTP transport that remembers each request, and can refuse the next connections."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []
        self.refuse = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.refuse:
            self.refuse -= 1
            raise httpx.ConnectError("connection refused (test)", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def to(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]


@dataclass
class Sandbox:
    url: str
    state: SandboxState
    clock: Any
    sleeps: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def policy(self, **overrides: Any) -> RetryPolicy:
        return RetryPolicy(sleep=self.sleep, **overrides)

    def client(
        self,
        *,
        secret: str = DEFAULT_CLIENT_SECRET,
        access_token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> IacClient:
        if access_token is None:
            config = GenesysConfig.for_sandbox(self.url, DEFAULT_CLIENT_ID, secret)
        else:
            config = GenesysConfig.from_env({"GENESYSCLOUD_API_REGION": self.url, "GENESYSCLOUD_ACCESS_TOKEN": access_token})
        return IacClient(
            config, transport=transport, retry=retry or self.policy(), timeout=timeout, clock=self.clock
        )

    @property
    def api_requests(self) -> int:
        return sum(n for route, n in self.state.requests.items() if route != "token")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def sb(
    sandbox_settings: SandboxSettings, settings_overrides: dict[str, Any], fake_clock: Callable[[], float]
) -> Iterator[Sandbox]:
    """A sandbox over real HTTP sharing `fake_clock` with the client's token cache."""
    app = create_app(dataclasses.replace(sandbox_settings, clock=fake_clock, **settings_overrides))
    with running_sandbox(app=app) as url:
        yield Sandbox(url, app.state.sandbox, fake_clock)


SIMPLE_QUEUE = "3b1c9d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
"""The built-in "Simple Queue Module": one required parameter, `queue_name`."""


def first_accelerator(sb: Sandbox) -> str:
    assert SIMPLE_QUEUE in sb.state.catalog
    return SIMPLE_QUEUE


def job_input(sb: Sandbox, *, parameters: list[JobParameter] = ()) -> AcceleratorInput:  # type: ignore[assignment]
    return AcceleratorInput(
        accelerator_id=first_accelerator(sb),
        dry_run=True,
        parameters=[JobParameter(name="queue_name", value="Support"), *parameters],
    )


# --- Endpoints -----------------------------------------------------------------------


async def test_list_accelerators_default_and_token_cached(sb: Sandbox) -> None:
    async with sb.client() as client:
        page = await client.list_accelerators()
        again = await client.list_accelerators(page_number=1)
    assert page.entities and page.total == len(sb.state.catalog)
    assert again.total == page.total
    assert sb.state.token_requests == 1
    assert sb.state.requests["list_accelerators"] == 2


async def test_every_accelerator_filter_reaches_the_sandbox(sb: Sandbox) -> None:
    target = next(iter(sb.state.catalog.values())).spec
    recorder = Recorder()
    async with sb.client(transport=recorder) as client:
        page = await client.list_accelerators(
            page_size=5,
            page_number=1,
            sort_by="name",
            sort_order="desc",
            name=target.name,
            description=(target.description or "")[:10] or None,
            origin=target.origin,
            type=target.type,
            classification=target.classification,
            tags=target.tags or ["x"],
        )
    [sent] = recorder.to(f"{PREFIX}/accelerators")
    expected = {
        "pageSize": "5",
        "pageNumber": "1",
        "sortBy": "name",
        "sortOrder": "desc",
        "name": target.name,
        "description": (target.description or "")[:10] or None,
        "origin": target.origin,
        "type": target.type,
        "classification": target.classification,
        "tags": ",".join(target.tags or ["x"]),
    }
    assert dict(sent.url.params) == {k: v for k, v in expected.items() if v is not None}
    if target.tags:
        assert target.id in [e.id for e in page.entities]


async def test_filters_filter_and_none_is_omitted(sb: Sandbox) -> None:
    recorder = Recorder()
    async with sb.client(transport=recorder) as client:
        none = await client.list_accelerators(name="no accelerator is called this")
        tagged = await client.list_accelerators(tags=["no-such-tag", "another-missing-tag"])
        page = await client.list_accelerators(page_size=1, page_number=2)
    assert none.entities == [] and none.total == 0
    assert tagged.total == 0
    assert len(page.entities) == 1 and page.page_number == 2 and page.page_size == 1
    assert dict(recorder.to(f"{PREFIX}/accelerators")[-1].url.params) == {"pageSize": "1", "pageNumber": "2"}


async def test_get_accelerator_and_language(sb: Sandbox) -> None:
    accelerator_id = first_accelerator(sb)
    recorder = Recorder()
    async with sb.client(transport=recorder) as client:
        spec = await client.get_accelerator(accelerator_id, preferred_language="pt-BR")
        plain = await client.get_accelerator(accelerator_id)
    assert spec.id == accelerator_id == plain.id
    assert spec.presentation is not None
    sent = recorder.to(f"{PREFIX}/accelerators/{accelerator_id}")
    assert [dict(r.url.params) for r in sent] == [{"preferredLanguage": "pt-BR"}, {}]


async def test_job_lifecycle_and_history_params(sb: Sandbox) -> None:
    recorder = Recorder()
    async with sb.client(transport=recorder) as client:
        created = await client.create_job(job_input(sb))
        job = await client.get_job(created.id, details=True)
        brief = await client.get_job(created.id)
        history = await client.list_jobs(
            max_results=5,
            include_errors=True,
            sort_by="dateSubmitted",
            sort_order="asc",
            accelerator_id=created.accelerator_id,
            submitted_by=sb.state.user_id,
            status=job.status,
        )
        latest = await client.list_jobs()
    assert created.status == "Created" and created.dry_run is True
    assert job.id == created.id and job.is_terminal and job.results
    assert brief.results is None
    assert [j.id for j in history] == [created.id] == [j.id for j in latest]
    assert sb.state.jobs_created == 1
    [post] = [r for r in recorder.to(f"{PREFIX}/jobs") if r.method == "POST"]
    assert post.headers["content-type"] == "application/json"
    assert [dict(r.url.params) for r in recorder.to(f"{PREFIX}/jobs/{created.id}")] == [
        {"details": "true"},
        {"details": "false"},
    ]
    gets = [r for r in recorder.to(f"{PREFIX}/jobs") if r.method == "GET"]
    assert dict(gets[0].url.params) == {
        "maxResults": "5",
        "includeErrors": "true",
        "sortBy": "dateSubmitted",
        "sortOrder": "asc",
        "acceleratorId": created.accelerator_id,
        "submittedBy": sb.state.user_id,
        "status": job.status,
    }
    assert dict(gets[1].url.params) == {}


async def test_history_filters_filter(sb: Sandbox) -> None:
    async with sb.client() as client:
        first = await client.create_job(job_input(sb))
        second = await client.create_job(job_input(sb))
        both = await client.list_jobs(max_results=10, sort_order="asc")
        nobody = await client.list_jobs(max_results=10, submitted_by="00000000-0000-0000-0000-000000000000")
        running = await client.list_jobs(max_results=10, status="Running")
    assert [j.id for j in both] == [first.id, second.id]
    assert nobody == [] and running == []


# --- Errors --------------------------------------------------------------------------


async def test_404_not_found(sb: Sandbox) -> None:
    async with sb.client() as client:
        with pytest.raises(NotFoundError) as caught:
            await client.get_job("no-such-job")
    error = caught.value
    assert error.status == 404 and error.code == "resource.not.found"
    assert "no-such-job" in error.message
    assert error.correlation_id and error.method == "GET" and error.path == f"{PREFIX}/jobs/no-such-job"
    assert sb.state.requests["get_job"] == 1


async def test_400_with_details(sb: Sandbox) -> None:
    body = job_input(sb, parameters=[JobParameter(name="definitely_not_a_parameter", value="1")])
    async with sb.client() as client:
        with pytest.raises(BadRequestError) as caught:
            await client.create_job(body)
        with pytest.raises(BadRequestError) as sort:
            await client.list_accelerators(sort_order="sideways")
    assert caught.value.code == "bad.request" and caught.value.field_errors
    assert "definitely_not_a_parameter" in str(caught.value)
    assert sort.value.field_errors == ["sortOrder"]
    assert sb.state.jobs_created == 0


@pytest.mark.parametrize("settings_overrides", [{"missing_permissions": frozenset({"infrastructureascode:job:add"})}])
async def test_403_names_the_missing_permission(sb: Sandbox) -> None:
    async with sb.client() as client:
        await client.list_jobs()
        with pytest.raises(PermissionDeniedError) as caught:
            await client.create_job(job_input(sb))
    assert caught.value.missing_permissions == ["infrastructureascode:job:add"]
    assert "infrastructureascode:job:add" in str(caught.value)
    assert sb.state.requests["create_job"] == 1


# --- Retries of reads ----------------------------------------------------------------


async def test_429_retry_after_honoured_then_success(sb: Sandbox) -> None:
    sb.state.faults.schedule("list_accelerators", [status(429, retry_after=7), status(429, retry_after=2)])
    async with sb.client() as client:
        page = await client.list_accelerators()
    assert page.entities
    assert sb.sleeps == [7, 2]
    assert sb.state.requests["list_accelerators"] == 3


async def test_retry_after_beyond_the_bound_fails_fast(sb: Sandbox) -> None:
    sb.state.faults.add("get_accelerator", status(429, retry_after=120))
    async with sb.client(retry=sb.policy(max_total_wait=30)) as client:
        with pytest.raises(RateLimitedError) as caught:
            await client.get_accelerator(first_accelerator(sb))
    assert caught.value.retry_after == 120
    assert "120" in str(caught.value)
    assert sb.sleeps == []
    assert sb.state.requests["get_accelerator"] == 1


@pytest.mark.parametrize("route", ["list_accelerators", "get_job", "list_jobs"])
async def test_5xx_retried_for_reads(sb: Sandbox, route: str) -> None:
    async with sb.client() as client:
        job = await client.create_job(job_input(sb))
        sb.state.faults.schedule(route, [status(502), status(503), status(504), None])
        call = {
            "list_accelerators": client.list_accelerators,
            "get_job": lambda: client.get_job(job.id),
            "list_jobs": client.list_jobs,
        }[route]
        await call()
    assert sb.state.requests[route] == 4
    assert len(sb.sleeps) == 3
    assert sb.sleeps[0] <= sb.sleeps[2]  # backoff grows even with full jitter: 0.25..0.5 vs 1..2


async def test_5xx_exhausted_raises_server_error(sb: Sandbox) -> None:
    sb.state.faults.add("list_jobs", status(503), times=10)
    async with sb.client(retry=sb.policy(max_attempts=3)) as client:
        with pytest.raises(ServerError) as caught:
            await client.list_jobs()
    assert caught.value.status == 503 and caught.value.code == "service.unavailable"
    assert sb.state.requests["list_jobs"] == 3


async def test_500_is_not_retried(sb: Sandbox) -> None:
    sb.state.faults.add("list_jobs", status(500))
    async with sb.client() as client:
        with pytest.raises(ServerError):
            await client.list_jobs()
    assert sb.state.requests["list_jobs"] == 1


async def test_total_wait_is_bounded(sb: Sandbox) -> None:
    sb.state.faults.add("list_jobs", status(503), times=50)
    policy = sb.policy(max_attempts=50, base_delay=1, max_delay=4, max_total_wait=10)
    async with sb.client(retry=policy) as client:
        with pytest.raises(ServerError):
            await client.list_jobs()
    assert sum(sb.sleeps) <= 10
    assert sb.state.requests["list_jobs"] == len(sb.sleeps) + 1 < 50


@pytest.mark.parametrize("fault", [drop(), drop_after()])
async def test_dropped_connection_retried_for_reads(sb: Sandbox, fault: Any) -> None:
    sb.state.faults.schedule("list_accelerators", [fault, fault, None])
    async with sb.client() as client:
        page = await client.list_accelerators()
    assert page.entities
    assert sb.state.requests["list_accelerators"] == 3


async def test_dropped_reads_exhausted(sb: Sandbox) -> None:
    sb.state.faults.add("list_jobs", drop(), times=10)
    async with sb.client(retry=sb.policy(max_attempts=2)) as client:
        with pytest.raises(TransportError) as caught:
            await client.list_jobs()
    assert caught.value.maybe_processed is False
    assert "2 attempt" in str(caught.value)
    assert sb.state.requests["list_jobs"] == 2


async def test_read_timeout_retried(sb: Sandbox) -> None:
    sb.state.faults.schedule("list_jobs", [slow(1.0), None])
    async with sb.client(timeout=httpx.Timeout(5.0, read=0.2)) as client:
        await client.list_jobs()
    assert sb.state.requests["list_jobs"] == 2


# --- Job submission is never resent ------------------------------------------------------


async def test_post_dropped_after_processing_is_not_resent(sb: Sandbox) -> None:
    sb.state.faults.add("create_job", drop_after())
    async with sb.client() as client:
        with pytest.raises(TransportError) as caught:
            await client.create_job(job_input(sb))
    assert caught.value.maybe_processed is True
    assert "not resent" in str(caught.value)
    assert sb.state.requests["create_job"] == 1
    assert sb.state.jobs_created == 1
    assert sb.sleeps == []


async def test_post_dropped_before_processing_is_not_resent_either(sb: Sandbox) -> None:
    sb.state.faults.add("create_job", drop())
    async with sb.client() as client:
        with pytest.raises(TransportError) as caught:
            await client.create_job(job_input(sb))
    assert caught.value.maybe_processed is True  # the client cannot tell drop from drop_after
    assert sb.state.requests["create_job"] == 1 and sb.state.jobs_created == 0


async def test_post_timeout_is_not_resent(sb: Sandbox) -> None:
    sb.state.faults.add("create_job", slow(0.6))
    async with sb.client(timeout=httpx.Timeout(5.0, read=0.1)) as client:
        with pytest.raises(TransportError) as caught:
            await client.create_job(job_input(sb))
    assert caught.value.maybe_processed is True
    assert "ReadTimeout" in str(caught.value)
    assert sb.state.requests["create_job"] == 1
    assert sb.sleeps == []


@pytest.mark.parametrize("code", [500, 502, 503, 504])
async def test_post_5xx_is_not_retried(sb: Sandbox, code: int) -> None:
    sb.state.faults.add("create_job", status(code))
    async with sb.client() as client:
        with pytest.raises(ServerError) as caught:
            await client.create_job(job_input(sb))
    assert caught.value.status == code and caught.value.method == "POST"
    assert sb.state.requests["create_job"] == 1
    assert sb.sleeps == []


async def test_post_429_is_retried_and_creates_one_job(sb: Sandbox) -> None:
    sb.state.faults.add("create_job", status(429, retry_after=3))
    async with sb.client() as client:
        job = await client.create_job(job_input(sb))
    assert sb.sleeps == [3]
    assert sb.state.requests["create_job"] == 2
    assert list(sb.state.jobs) == [job.id]


async def test_post_connect_error_is_retried(sb: Sandbox) -> None:
    recorder = Recorder()
    async with sb.client(transport=recorder) as client:
        await client.list_jobs()  # token and connection ready
        recorder.refuse = 2
        job = await client.create_job(job_input(sb))
    assert len([r for r in recorder.to(f"{PREFIX}/jobs") if r.method == "POST"]) == 3
    assert sb.state.requests["create_job"] == 1
    assert list(sb.state.jobs) == [job.id]


async def test_post_to_a_closed_port_never_arrived(sb: Sandbox) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    config = GenesysConfig.from_env({"GENESYSCLOUD_API_REGION": f"http://127.0.0.1:{port}", "GENESYSCLOUD_ACCESS_TOKEN": "t"})
    async with IacClient(config, retry=sb.policy(max_attempts=3)) as client:
        with pytest.raises(TransportError) as caught:
            await client.create_job(AcceleratorInput(accelerator_id="a"))
    assert caught.value.maybe_processed is False
    assert "ConnectError" in str(caught.value)
    assert len(sb.sleeps) == 2


# --- Ids -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "../accelerators", "a/b", "a\\b", "a?details=true", "a#b", "%2e%2e", "a b", "x\n", "x" * 129])
async def test_invalid_ids_send_nothing(sb: Sandbox, bad: str) -> None:
    async with sb.client() as client:
        with pytest.raises(InvalidIdError):
            await client.get_job(bad)
        with pytest.raises(InvalidIdError):
            await client.get_accelerator(bad)
        with pytest.raises(InvalidIdError):
            await client.create_job(AcceleratorInput(accelerator_id=bad))
    assert sum(sb.state.requests.values()) == 0
    assert sb.state.token_requests == 0


# --- Authentication ------------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{"token_lifetime": 1000}])
async def test_token_refreshed_before_expiry(sb: Sandbox) -> None:
    async with sb.client() as client:
        await client.list_jobs()
        sb.clock.advance(939)  # refresh margin is min(60 s, 10% of 1000 s): fresh until 940 s
        await client.list_jobs()
        assert sb.state.token_requests == 1
        sb.clock.advance(2)  # 941 s: inside the margin, while the sandbox still accepts the old token
        await client.list_jobs()
    assert sb.state.token_requests == 2
    assert sb.state.requests["list_jobs"] == 3  # no 401 round trip


@pytest.mark.parametrize("settings_overrides", [{"token_lifetime": 300}])
async def test_concurrent_calls_share_one_refresh(sb: Sandbox) -> None:
    async with sb.client() as client:
        await client.list_jobs()
        sb.clock.advance(301)
        results: list[object] = []

        async def call() -> None:
            results.append(await client.list_jobs())

        async with anyio.create_task_group() as group:
            for _ in range(100):
                group.start_soon(call)
    assert len(results) == 100
    assert sb.state.token_requests == 2
    assert sb.state.requests["token"] == 2
    assert sb.state.requests["list_jobs"] == 101


async def test_401_renews_the_token_once_and_retries(sb: Sandbox) -> None:
    async with sb.client() as client:
        await client.list_jobs()
        sb.state.tokens.clear()  # the platform revoked every token
        job = await client.create_job(job_input(sb))
    assert sb.state.token_requests == 2
    assert sb.state.requests["create_job"] == 2
    assert list(sb.state.jobs) == [job.id]


@pytest.mark.parametrize("settings_overrides", [{"token_lifetime": 0}])
async def test_401_after_renewal_is_unauthorized(sb: Sandbox) -> None:
    async with sb.client() as client:
        with pytest.raises(UnauthorizedError) as caught:
            await client.list_jobs()
    assert "freshly issued token was rejected" in str(caught.value)
    assert sb.state.token_requests == 2
    assert sb.state.requests["list_jobs"] == 2


async def test_ready_token_used_as_is(sb: Sandbox) -> None:
    token = sb.state.issue_token()
    async with sb.client(access_token=token) as client:
        await client.list_jobs()
        sb.state.tokens.clear()
        with pytest.raises(UnauthorizedError) as caught:
            await client.list_jobs()
    assert "GENESYSCLOUD_ACCESS_TOKEN is invalid or expired" in str(caught.value)
    assert token not in str(caught.value)
    assert sb.state.requests["token"] == 0
    assert sb.state.requests["list_jobs"] == 2


async def test_bad_credentials(sb: Sandbox) -> None:
    secret = "Wrong-Secret-4711"
    async with sb.client(secret=secret) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.list_accelerators()
    error = caught.value
    assert error.status == 401
    assert "invalid_client" in str(error) and "GENESYSCLOUD_OAUTHCLIENT_SECRET" in str(error)
    assert secret not in str(error) and secret not in repr(error)
    assert sb.api_requests == 0
    assert sb.state.requests["token"] == 1


async def test_token_request_retried_on_503_and_drop(sb: Sandbox) -> None:
    sb.state.faults.schedule("token", [status(503), drop(), None])
    async with sb.client() as client:
        await client.list_jobs()
    assert sb.state.requests["token"] == 3 and sb.state.token_requests == 1


async def test_token_rate_limited_beyond_bound(sb: Sandbox) -> None:
    sb.state.faults.add("token", status(429, retry_after=600))
    async with sb.client() as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.list_jobs()
    assert caught.value.status == 429 and "retry after 600 s" in str(caught.value)
    assert sb.api_requests == 0


async def test_wire_format_of_the_token_request(sb: Sandbox) -> None:
    recorder = Recorder()
    async with sb.client(transport=recorder) as client:
        await client.list_jobs()
    token_request, api_request = recorder.requests
    assert token_request.method == "POST" and token_request.url.path == "/oauth/token"
    assert token_request.headers["authorization"].startswith("Basic ")
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert token_request.content == b"grant_type=client_credentials"
    assert api_request.headers["authorization"].startswith("Bearer ")


# --- Logging -----------------------------------------------------------------------------


async def test_logs_never_hold_secrets(sb: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="iac_mcp.genesys")
    sb.state.faults.add("list_jobs", status(503))
    sb.state.faults.add("create_job", drop_after())
    parameters = [JobParameter(name="x", value="body-value-секрет")]
    async with sb.client() as client:
        await client.list_jobs()
        with pytest.raises(TransportError):
            await client.create_job(job_input(sb, parameters=parameters))
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert f"GET {PREFIX}/jobs -> 200" in text and "retrying" in text
    for secret in [DEFAULT_CLIENT_SECRET, *sb.state.tokens, "Bearer", "Basic", "body-value"]:
        assert secret not in text


# --- In-process sandbox (the MCP server's demo mode) -------------------------------------


async def test_in_process_transport(sandbox_settings: SandboxSettings) -> None:
    app = create_app(sandbox_settings)
    state: SandboxState = app.state.sandbox
    config = GenesysConfig.for_sandbox("http://sandbox.iac-mcp.invalid", DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    async with IacClient(config, transport=httpx.ASGITransport(app=app)) as client:
        page = await client.list_accelerators(page_size=2)
        state.faults.add("create_job", drop_after())
        with pytest.raises(TransportError) as caught:
            await client.create_job(AcceleratorInput(accelerator_id=SIMPLE_QUEUE, parameters=[JobParameter(name="queue_name", value="q")]))
    assert len(page.entities) == 2
    assert caught.value.maybe_processed is True
    assert state.requests["create_job"] == 1 and state.jobs_created == 1
