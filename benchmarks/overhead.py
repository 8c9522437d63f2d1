"""Overhead: each tool through MCP (in-process, stdio, HTTP) against the same sandbox request
made directly with httpx, and against mcp's own floor: a one-tool `MCPServer` forwarding that
request (`benchmarks/proxy_server.py`) over the same transports, so that what mcp costs per
call is told apart from what iac-mcp adds. Rounds interleave the sides, the order reversed
every other round, so drift on a noisy machine hits all of them alike; figures are medians.
Beside them, what mcp's Python client spends validating each result's structured content
against the tool's output schema, which every agent built on it pays on every call whatever
the transport.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
from jsonschema import exceptions as jsonschema_exceptions
from jsonschema.validators import validator_for
from mcp import Client, StdioServerParameters
from referencing import Registry
from starlette.applications import Starlette

from benchmarks.common import (
    Table,
    bench_server,
    direct_client,
    http_server,
    median_ms,
    sandbox_app,
    timed,
    upstream_env,
    upstream_for,
)
from benchmarks.proxy_server import Upstream
from benchmarks.proxy_server import build as floor_server
from iac_mcp.demo import example_arguments
from iac_mcp.sandbox.serve import running_sandbox

API = "/api/v2/infrastructureascode"
GOAL_MS = {"stdio": 1.5, "HTTP": 3.0}
"""Issue 16's goal: added latency per call, median, over each transport."""
VALIDATION_RUNS = 200
PROXY = Path(__file__).with_name("proxy_server.py")
DIRECT = "direct"
FLOOR = "floor"
BEYOND = "beyond"


@dataclass(frozen=True)
class Case:
    """One tool call and the upstream request it stands for."""

    tool: str
    arguments: dict[str, Any]
    method: str
    path: str
    params: dict[str, str] | None = None
    body: dict[str, Any] | None = None
    reads: bool = True
    """False for the one tool that writes (submit-job's dry run keeps its bookkeeping in the ledger)."""

    def direct(self, http: httpx.AsyncClient) -> Callable[[], Awaitable[object]]:
        async def call() -> None:
            answer = await http.request(self.method, self.path, params=self.params, json=self.body)
            answer.raise_for_status()

        return call

    def through(self, client: Client) -> Callable[[], Awaitable[object]]:
        return _calling(client, self.tool, self.arguments)

    def floor(self, client: Client) -> Callable[[], Awaitable[object]]:
        """The same upstream request through the floor server's one tool."""
        arguments = {"path": self.path, "params": self.params, "method": self.method, "body": self.body}
        return _calling(client, "proxy", arguments)


def _calling(client: Client, tool: str, arguments: dict[str, Any]) -> Callable[[], Awaitable[object]]:
    async def call() -> None:
        result = await client.call_tool(tool, arguments)
        if result.is_error:
            raise RuntimeError(f"{tool} failed: {result.content}")

    return call


async def cases(client: Client) -> list[Case]:
    """The five tools on the Simple Queue Module, with a dry-run job to read."""
    listing = await client.call_tool("list-accelerators", {"name": "Simple Queue"})
    target = listing.structured_content["accelerators"][0]["id"]
    described = await client.call_tool("describe-accelerator", {"accelerator_id": target})
    params = example_arguments(described.structured_content["parameters_schema"])
    planned = await client.call_tool("submit-job", {"accelerator_id": target, "parameters": params})
    job = planned.structured_content["job"]["id"]
    wire = [{"name": k, "value": v} for k, v in planned.structured_content["parameters"].items()]
    return [
        Case("list-accelerators", {"page_size": 25}, "GET", f"{API}/accelerators", {"pageSize": "25", "pageNumber": "1"}),
        Case("describe-accelerator", {"accelerator_id": target}, "GET", f"{API}/accelerators/{target}"),
        Case(
            "submit-job",
            {"accelerator_id": target, "parameters": params},
            "POST",
            f"{API}/jobs",
            body={"acceleratorId": target, "dryRun": True, "parameters": wire},
            reads=False,
        ),
        Case("get-job", {"job_id": job}, "GET", f"{API}/jobs/{job}", {"details": "true"}),
        Case(
            "list-jobs",
            {"max_results": 10},
            "GET",
            f"{API}/jobs",
            {"maxResults": "10", "includeErrors": "true", "sortBy": "dateSubmitted", "sortOrder": "desc"},
        ),
    ]


async def validation_ms(client: Client, plan: list[Case]) -> dict[str, float]:
    """Per tool, the median ms mcp's client takes to check a result against the output schema,
    as `ClientSession.validate_tool_result` does it (the validator compiled once, then
    `best_match(iter_errors(...))` on every call)."""
    schemas = {tool.name: tool.output_schema for tool in (await client.list_tools()).tools}
    spent: dict[str, float] = {}
    for case in plan:
        schema = schemas[case.tool]
        content = (await client.call_tool(case.tool, case.arguments)).structured_content
        if schema is None:
            spent[case.tool] = 0.0
            continue
        validator = validator_for(schema)(schema, registry=Registry())
        runs = []
        for _ in range(VALIDATION_RUNS):
            started = time.perf_counter()
            jsonschema_exceptions.best_match(validator.iter_errors(content))
            runs.append(time.perf_counter() - started)
        spent[case.tool] = median_ms(runs)
    return spent


def read_tools_row(rows: list[list[Any]], plan: list[Case]) -> list[Any]:
    """The median over the read tools of every figure (ratios left out: a median of medians)."""
    reading = [row for row, case in zip(rows, plan, strict=True) if case.reads]
    return ["read tools (median)"] + [
        "" if isinstance(column[0], str) else statistics.median(column) for column in list(zip(*reading, strict=True))[1:]
    ]


def goal_note(row: Mapping[str, float]) -> str:
    verdicts = ", ".join(
        f"{side} +{row[side]:.2f} ms (goal ≤ {goal} ms: {'met' if row[side] <= goal else 'not met'})"
        for side, goal in GOAL_MS.items()
    )
    return f"Added latency, median over the read tools: {verdicts}."


def floor_note(floor: Mapping[str, float], beyond: Mapping[str, float]) -> str:
    def over_goal(side: str) -> str:
        goal = GOAL_MS.get(side)
        return f" (above the goal's {goal} ms)" if goal is not None and floor[side] > goal else ""

    floors = ", ".join(f"{side} +{value:.2f} ms{over_goal(side)}" for side, value in floor.items())
    ours = ", ".join(f"{side} +{value:.2f} ms" for side, value in beyond.items())
    return (
        f"mcp's own floor, median over the read tools: a one-tool MCPServer forwarding the same request adds {floors} "
        f"over direct; iac-mcp adds {ours} beyond it."
    )


@contextmanager
def floor_http_server(app: Starlette, url: str) -> Iterator[str]:
    """The floor server's streamable HTTP app in a subprocess over the sandbox at `url`."""
    from http_support import free_port, server_process

    port = free_port()
    with server_process([sys.executable, str(PROXY), "--http", str(port)], upstream_env(app, url), port) as base:
        yield base


async def measure(rounds: int) -> Table:
    from http_support import http_client

    app = sandbox_app()
    credentials = app.state.sandbox.settings
    samples: dict[tuple[str, str], list[float]] = {}
    upstream_per_call: dict[tuple[str, str], list[int]] = {}
    with running_sandbox(app=app) as url, http_server(app, url) as mcp_url, floor_http_server(app, url) as floor_url:
        async with AsyncExitStack() as stack:
            direct = await stack.enter_async_context(direct_client(app, url))
            sides: dict[str, Client] = {
                "in-process": await stack.enter_async_context(Client(bench_server(upstream_for(app, url)), mode="auto")),
                "stdio": await stack.enter_async_context(
                    Client(
                        StdioServerParameters(
                            command=sys.executable,
                            args=["-m", "iac_mcp", "serve", "--log-level", "WARNING"],
                            env=upstream_env(app, url),
                        ),
                        mode="auto",
                    )
                ),
                "HTTP": await stack.enter_async_context(http_client(mcp_url, "auto")),
            }
            floors: dict[str, Client] = {
                "in-process": await stack.enter_async_context(
                    Client(floor_server(Upstream(url, credentials.client_id, credentials.client_secret)), mode="auto")
                ),
                "stdio": await stack.enter_async_context(
                    Client(
                        StdioServerParameters(command=sys.executable, args=[str(PROXY)], env=upstream_env(app, url)),
                        mode="auto",
                    )
                ),
                "HTTP": await stack.enter_async_context(http_client(floor_url, "auto")),
            }
            plan = await cases(sides["in-process"])
            for name, side in sides.items():  # warm every side: token, spec cache, imports
                for case in plan:
                    await case.through(side)()
                    await case.floor(floors[name])()
            validation = await validation_ms(sides["stdio"], plan)
            for round_ in range(rounds):
                for case in plan:
                    calls = {(case.tool, DIRECT): case.direct(direct)}
                    for name, side in sides.items():
                        calls[case.tool, name] = case.through(side)
                        calls[case.tool, f"{FLOOR} {name}"] = case.floor(floors[name])
                    for key in calls if round_ % 2 == 0 else reversed(calls):
                        before = sum(app.state.sandbox.requests.values())
                        samples.setdefault(key, []).append(await timed(calls[key]))
                        upstream_per_call.setdefault(key, []).append(sum(app.state.sandbox.requests.values()) - before)
    table = Table(
        "overhead",
        f"Overhead per tool call: MCP vs the same request with httpx (median of {rounds} rounds, ms)",
        [
            "tool",
            "httpx direct",
            "in-process",
            "×",
            "+ms",
            "stdio",
            "×",
            "+ms",
            "HTTP",
            "×",
            "+ms",
            *[heading for name in sides for heading in (f"{FLOOR} {name} +ms", f"ours over {FLOOR} {name} ms")],
            "client validation ms",
            "upstream req/call",
        ],
    )
    over_reads: dict[tuple[str, str], list[float]] = {}
    """(figure, transport) → its value for each read tool: ours and the floor over direct, ours over the floor."""
    for case in plan:
        base = median_ms(samples[(case.tool, DIRECT)])
        row: list[Any] = [case.tool, base]
        ours = {name: median_ms(samples[(case.tool, name)]) for name in sides}
        floor = {name: median_ms(samples[(case.tool, f"{FLOOR} {name}")]) for name in sides}
        for value in ours.values():
            row += [value, f"{value / base:.1f}×", value - base]
        for name in sides:
            row += [floor[name] - base, ours[name] - floor[name]]
            if case.reads:
                for figure, value in (
                    (DIRECT, ours[name] - base),
                    (FLOOR, floor[name] - base),
                    (BEYOND, ours[name] - floor[name]),
                ):
                    over_reads.setdefault((figure, name), []).append(value)
        row.append(validation[case.tool])
        row.append("/".join(str(statistics.median_low(upstream_per_call[(case.tool, n)])) for n in sides))
        table.rows.append(row)
    table.rows.append(read_tools_row(table.rows, plan))

    def read_median(figure: str) -> dict[str, float]:
        return {name: statistics.median(over_reads[figure, name]) for name in sides}

    table.notes += [
        goal_note(read_median(DIRECT)),
        floor_note(read_median(FLOOR), read_median(BEYOND)),
        "Every side reaches the same sandbox over real loopback HTTP; only the MCP layer differs. "
        "HTTP is iac-mcp's streamable HTTP app (stateless, bearer auth) in its own uvicorn process; "
        "stdio is `iac-mcp serve` as a subprocess; both in the 2026-07-28 protocol (mode=auto).",
        f"floor: `benchmarks/{PROXY.name}`, one tool forwarding the request with httpx and answering its raw JSON "
        "(an open output schema, so next to nothing to validate), served in-process, over stdio and as mcp's stateless "
        "streamable HTTP app under uvicorn like iac-mcp's, but without its bearer auth, exact Host/Origin check and "
        "other middleware. ours over floor: iac-mcp's median minus the floor's, on the same transport.",
        "describe-accelerator answers from the server's spec cache after the first call (0 upstream requests), "
        "so it can be cheaper than the direct GET and than the floor, which always forwards; "
        "get-job also reads the cached spec to mask sensitive values.",
        "upstream req/call: median sandbox requests per MCP call for in-process/stdio/HTTP.",
        "client validation ms: what mcp's Python client spends checking one result against the tool's output "
        f"schema (`jsonschema`, its validator compiled once; median of {VALIDATION_RUNS}); it is part of every "
        "side's +ms.",
    ]
    return table


def run(quick: bool) -> Table:
    return anyio.run(measure, 8 if quick else 40)
