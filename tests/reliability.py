"""Building blocks for the reliability suite: retries that do not really sleep, no client-side
pacing, upstream request paths recorded, and the scripted agent flow that tolerates failure.

The server under test is the real one (`build_server` over `sandbox_client`); only the
client's retry sleeps and its 300-a-minute pacer are swapped, so a suite of thousands of
calls and hundreds of injected faults stays inside its time bound.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
from mcp import Client
from mcp.types import CallToolResult
from servers import SIGNING_KEY, accept_consent, fresh_ledger, server_settings, text_of
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from iac_mcp.demo import example_arguments
from iac_mcp.genesys.pacing import SlidingWindowLimiter
from iac_mcp.genesys.retry import RetryPolicy
from iac_mcp.profiles import Profile
from iac_mcp.server.app import ClientFactory, OrgUpstream, build_server
from iac_mcp.settings import Mode
from iac_mcp.upstream import sandbox_client

SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")
"""What every path segment sent upstream must look like (RFC 3986 unreserved characters)."""

ACTIONABLE = re.compile(r"Next:|list-jobs|try again|dry run|describe-accelerator", re.IGNORECASE)
"""An error result must name a next step."""

EXPLAINED = re.compile(r"HTTP \d{3}|\b[45]\d\d\b|could not|may or may not|did not succeed|not finished|invalid", re.IGNORECASE)
"""...and say what went wrong: a status, or what could not be done."""

OPAQUE = re.compile(r"Error executing tool [\w-]+")
"""What mcp shows for an unexpected exception (the message hidden): a crash in disguise."""


async def _no_sleep(_: float) -> None:
    """Yield to the loop instead of sleeping out a back-off or a Retry-After."""
    await anyio.sleep(0)


FAST_RETRY = RetryPolicy(sleep=_no_sleep)
"""The production policy (attempts, Retry-After handling, budget) without the real waits."""


def fast_upstream(app: Starlette) -> ClientFactory:
    """`sandbox_client` over `app` with FAST_RETRY and a pacer that never waits."""
    return partial(sandbox_client, app, retry=FAST_RETRY, pacer=SlidingWindowLimiter(rate=10**9))


@asynccontextmanager
async def fast_connected(
    app: Starlette, era: str, *, mode: Mode = Mode.APPLY, orgs: Sequence[str] = (), **client_options: Any
) -> AsyncIterator[Client]:
    """An in-process MCP client session with the real server over `fast_upstream(app)`; with
    `orgs`, one profile of each name over it (two orgs or more offer promote-job)."""
    upstream = [OrgUpstream(Profile(name, name.title(), mode), fast_upstream(app)) for name in orgs] or fast_upstream(app)
    server = build_server(upstream, server_settings(mode=mode), ledger=fresh_ledger(), signing_key=SIGNING_KEY)
    client_options.setdefault("elicitation_callback", accept_consent)
    async with Client(server, mode=era, **client_options) as client:
        yield client


class PathRecorder:
    """ASGI middleware keeping the raw path of every request the sandbox receives."""

    def __init__(self, app: ASGIApp, paths: list[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append(scope.get("raw_path", scope["path"].encode()).decode("latin-1"))
        await self.app(scope, receive, send)


def record_paths(app: Starlette) -> list[str]:
    """Start recording `app`'s request paths (before it serves anything); returns the live list."""
    paths: list[str] = []
    app.add_middleware(PathRecorder, paths=paths)
    return paths


def unsafe_segments(paths: list[str]) -> list[str]:
    """Path segments that are not plain unreserved ids: must be empty after any input."""
    return [seg for path in paths for seg in path.split("?", 1)[0].split("/")[1:] if not SAFE_SEGMENT.match(seg)]


def assert_actionable(result: CallToolResult) -> None:
    """An `is_error` result reads as a diagnosis with a next step, not as a crash."""
    text = text_of(result)
    assert ACTIONABLE.search(text) and EXPLAINED.search(text), text
    assert "Traceback" not in text and not OPAQUE.fullmatch(text.strip()), text


@dataclass
class FlowLog:
    """What one scripted flow saw: the job ids the tools reported, and how it ended."""

    reported_jobs: list[str] = field(default_factory=list)
    unknown_submissions: int = 0
    errors: list[str] = field(default_factory=list)
    completed: bool = False


async def tolerant_flow(client: Client, accelerator_id: str, log: FlowLog) -> None:
    """list → describe → dry run → wait → apply with the plan token → wait, stopping at the
    first `is_error` result, which must be actionable. Records every job the tools report."""

    async def step(tool: str, arguments: dict[str, Any]) -> CallToolResult | None:
        result = await client.call_tool(tool, arguments)
        if not result.is_error:
            return result
        assert_actionable(result)
        log.errors.append(text_of(result))
        if tool == "submit-job" and "may or may not" in text_of(result):
            log.unknown_submissions += 1
        return None

    async def submit(arguments: dict[str, Any]) -> CallToolResult | None:
        result = await step("submit-job", arguments)
        if result is not None and result.structured_content["job"] is not None:
            log.reported_jobs.append(result.structured_content["job"]["id"])
        return result

    if await step("list-accelerators", {"page_size": 100}) is None:
        return
    described = await step("describe-accelerator", {"accelerator_id": accelerator_id})
    if described is None:
        return
    params = example_arguments(described.structured_content["parameters_schema"], include_optional=True)
    planned = await submit({"accelerator_id": accelerator_id, "parameters": params})
    if planned is None:
        return
    plan = await step("get-job", {"job_id": planned.structured_content["job"]["id"], "wait_seconds": 5})
    if plan is None or not plan.structured_content["succeeded"]:
        return
    applied = await submit(
        {"accelerator_id": accelerator_id, "parameters": params, "dry_run": False, "plan_token": planned.structured_content["plan_token"]}
    )
    if applied is None:
        return
    if await step("get-job", {"job_id": applied.structured_content["job"]["id"], "wait_seconds": 5}) is None:
        return
    log.completed = True
