"""Shared fixtures: the real accelerator specs, and sandboxes served over real HTTP.

Generic on purpose: every test file may use them. `sandbox_url` is a uvicorn server on a
free port; `start_sandbox` builds more with custom settings (fake clock, missing
permissions, ...) and hands back the app state for assertions.
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from starlette.applications import Starlette

from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.serve import running_sandbox
from iac_mcp.sandbox.settings import SandboxSettings
from iac_mcp.sandbox.state import SandboxState

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"
TLS = ssl.create_default_context()
"""One TLS context for every test client: httpx builds one per client otherwise, ~50 ms each."""


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Sandbox(NamedTuple):
    """A running sandbox: its app, live state, base URL and an authenticated httpx client."""

    app: Starlette
    state: SandboxState
    url: str
    client: httpx.Client


def fetch_token(client: httpx.Client, settings: SandboxSettings) -> str:
    """A bearer token from the sandbox's login endpoint."""
    answer = client.post(
        "/oauth/token",
        auth=(settings.client_id, settings.client_secret),
        data={"grant_type": "client_credentials"},
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.skip(f"shared data directory {SHARED_DIR} is absent")
    return SHARED_DIR


@pytest.fixture(scope="session")
def real_specs_dir(shared_dir: Path) -> Path:
    directory = shared_dir / "accelerators"
    if not any(directory.glob("*.json")):
        pytest.skip(f"no real accelerator specs in {directory}")
    return directory


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox_settings() -> SandboxSettings:
    """Fast jobs: terminal at the first read."""
    return SandboxSettings(job_duration=0)


@pytest.fixture
def sandbox_app(sandbox_settings: SandboxSettings) -> Starlette:
    return create_app(sandbox_settings)


@pytest.fixture
def sandbox_url(sandbox_app: Starlette) -> Iterator[str]:
    with running_sandbox(app=sandbox_app) as url:
        yield url


@pytest.fixture
def start_sandbox(sandbox_settings: SandboxSettings) -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes over real HTTP: `start_sandbox(job_duration=5, clock=fake_clock)`.

    Keyword arguments override `sandbox_settings`; pass `token=False` for an
    unauthenticated client. Everything stops at the end of the test.
    """
    with ExitStack() as stack:

        def start(*, token: bool = True, **overrides: Any) -> Sandbox:
            settings = dataclasses.replace(sandbox_settings, **overrides)
            app = create_app(settings)
            url = stack.enter_context(running_sandbox(app=app))
            client = stack.enter_context(httpx.Client(base_url=url, timeout=10, verify=TLS))
            if token:
                client.headers["Authorization"] = f"Bearer {fetch_token(client, settings)}"
            return Sandbox(app=app, state=app.state.sandbox, url=url, client=client)

        yield start


@pytest.fixture
def sandbox(start_sandbox: Callable[..., Sandbox]) -> Sandbox:
    """A default sandbox (job_duration=0) with an authenticated client."""
    return start_sandbox()
