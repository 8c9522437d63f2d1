"""Building blocks for the HTTP transport tests: real uvicorn servers, real clients, the flow."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ElicitRequestParams, ElicitResult
from servers import fresh_ledger, server_settings, text_of
from starlette.applications import Starlette

from iac_mcp.demo import example_arguments
from iac_mcp.sandbox.serve import serve_in_thread
from iac_mcp.server.app import LedgerFactory
from iac_mcp.transports.http import create_app
from iac_mcp.upstream import sandbox_client

HOST = "127.0.0.1"
TOKEN = "test-token-0123456789abcdef0123456789"
SIGNING_SECRET = "shared-signing-secret-for-replicas-0123456789"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
"""A raw 2025-11-25 `initialize` and the headers streamable HTTP requires, for tests below the client."""
JS_MANIFEST = Path(__file__).parent / "js" / "package.json"
JS_CACHE_ENV = "IAC_MCP_JS_CACHE"


def js_tools() -> Path:
    """The pinned npm packages of tests/js, installed once into a cache outside the repository.

    The cache directory is keyed by the manifest's hash, so changing a pin reinstalls.
    Skips only when npm is absent.
    """
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is absent")
    manifest = JS_MANIFEST.read_bytes()
    root = Path(os.environ.get(JS_CACHE_ENV) or Path.home() / ".cache" / "iac-mcp-js")
    directory = root / hashlib.sha256(manifest).hexdigest()[:16]
    installed = directory / ".installed"
    if not installed.exists():
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "package.json").write_bytes(manifest)
        subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=directory, check=True, timeout=900, capture_output=True)
        installed.touch()
    return directory / "node_modules"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_app(
    sandbox_app: Starlette, *, tokens: tuple[str, ...] = (TOKEN,), ledger: LedgerFactory | None = None, **options: Any
) -> Starlette:
    """The HTTP app over an in-process sandbox, guarded by `tokens`."""
    settings = server_settings(http_tokens=tokens, signing_key=SIGNING_SECRET, **options)
    return create_app(partial(sandbox_client, sandbox_app), settings, ledger=ledger or fresh_ledger())


def running_http(app: Starlette) -> AbstractContextManager[str]:
    """Serve the MCP HTTP app (with its lifespan) on a free loopback port; yield the base URL."""
    return serve_in_thread(app, lifespan="on")


@contextmanager
def server_process(args: list[str], env: Mapping[str, str], port: int) -> Iterator[str]:
    """`iac-mcp serve --http ...` (or any command serving `port`) as a subprocess, until /healthz answers."""
    process = subprocess.Popen(args, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}: {process.stderr.read() if process.stderr else ''}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become healthy in 30 s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "iac_mcp", *args]


@asynccontextmanager
async def http_client(
    url: str, era: str, *, token: str | None = TOKEN, http: httpx2.AsyncClient | None = None, **options: Any
) -> AsyncIterator[Client]:
    """mcp's client over streamable HTTP at `url`/mcp, in `era` ("legacy" or "auto")."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http or httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=90)) as client:
        async with Client(streamable_http_client(url + "/mcp", http_client=client), mode=era, **options) as session:
            yield session


@dataclass
class Progress:
    """Progress notifications a client received."""

    messages: list[str] = field(default_factory=list)

    async def __call__(self, value: float, total: float | None, message: str | None) -> None:
        self.messages.append(message or "")


@dataclass
class Consenting:
    """An elicitation callback that accepts, as a user approving the real run would."""

    questions: list[str] = field(default_factory=list)

    async def __call__(self, _: ClientRequestContext, request: ElicitRequestParams) -> ElicitResult:
        self.questions.append(request.message)
        return ElicitResult(action="accept", content={"confirm": True})


@dataclass
class FlowResult:
    plan_id: str
    apply_id: str
    plan_progress: list[str]
    final: dict[str, Any]


async def run_flow(client: Client) -> FlowResult:
    """What an agent does: list, describe, dry run, wait, apply with the plan token, wait."""
    listing = await client.call_tool("list-accelerators", {"name": "queue", "page_size": 5})
    assert not listing.is_error, text_of(listing)
    chosen = listing.structured_content["accelerators"][0]["id"]
    described = await client.call_tool("describe-accelerator", {"accelerator_id": chosen})
    assert not described.is_error, text_of(described)
    params = example_arguments(described.structured_content["parameters_schema"], include_optional=True)
    planned = await client.call_tool("submit-job", {"accelerator_id": chosen, "parameters": params})
    assert not planned.is_error, text_of(planned)
    plan_id = planned.structured_content["job"]["id"]
    progress = Progress()
    plan = await client.call_tool("get-job", {"job_id": plan_id, "wait_seconds": 30}, progress_callback=progress)
    assert not plan.is_error and plan.structured_content["succeeded"], text_of(plan)
    applied = await client.call_tool(
        "submit-job",
        {
            "accelerator_id": chosen,
            "parameters": params,
            "dry_run": False,
            "plan_token": planned.structured_content["plan_token"],
        },
    )
    assert not applied.is_error, text_of(applied)
    apply_id = applied.structured_content["job"]["id"]
    done = await client.call_tool("get-job", {"job_id": apply_id, "wait_seconds": 30})
    assert not done.is_error, text_of(done)
    return FlowResult(plan_id, apply_id, progress.messages, done.structured_content)
