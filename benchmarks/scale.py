"""Scale: a sandbox catalogue of 10,000 generated accelerators. Listing, filtering, deep
pages, describing and id completion through the MCP tools (in-process, so the figures are
the server's and the sandbox's work, not a transport's), and the memory all of it takes.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.types import ResourceTemplateReference

from benchmarks.catalog import WORDS, write_catalog
from benchmarks.common import UNLIMITED_RATE, Table, bench_server, median_ms, rss_kib, sandbox_app
from iac_mcp.genesys.pacing import SlidingWindowLimiter
from iac_mcp.server.resources import ACCELERATOR_URI
from iac_mcp.upstream import sandbox_client

ACCELERATOR_REF = ResourceTemplateReference(type="ref/resource", uri=ACCELERATOR_URI)


def _tool(client: Client, tool: str, arguments: dict[str, Any]) -> Callable[[], Awaitable[Any]]:
    async def call() -> Any:
        result = await client.call_tool(tool, arguments)
        if result.is_error:
            raise RuntimeError(f"{tool} failed: {result.content}")
        return result.structured_content

    return call


def _complete(client: Client, typed: str) -> Callable[[], Awaitable[Any]]:
    async def call() -> Any:
        return (await client.complete(ACCELERATOR_REF, {"name": "accelerator_id", "value": typed})).completion

    return call


async def _median(call: Callable[[], Awaitable[Any]], repeats: int) -> tuple[float, Any]:
    samples, answer = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        answer = await call()
        samples.append(time.perf_counter() - started)
    return median_ms(samples), answer


async def measure(count: int, repeats: int) -> Table:
    table = Table(
        "scale",
        f"Scale: a catalogue of {count:,} accelerators (median of {repeats} calls, ms)",
        ["operation", "median ms", "first call ms", "answer"],
    )
    with tempfile.TemporaryDirectory() as catalog:
        ids = write_catalog(Path(catalog), count)
        gc.collect()
        rss_start = rss_kib()
        started = time.perf_counter()
        app = sandbox_app(catalog_dirs=[Path(catalog)], builtin_catalog=False)
        load_seconds = time.perf_counter() - started
        gc.collect()
        rss_loaded = rss_kib()
        connect = partial(sandbox_client, app, pacer=SlidingWindowLimiter(rate=UNLIMITED_RATE))
        async with Client(bench_server(connect), mode="auto") as client:
            last = ids[-1]
            operations: list[tuple[str, Callable[[], Awaitable[Any]], Callable[[Any], str]]] = [
                ("list-accelerators, page 1 of 25", _tool(client, "list-accelerators", {}), lambda a: f"{a['total']:,} total"),
                (
                    "list-accelerators, last page of 100",
                    _tool(client, "list-accelerators", {"page_size": 100, "page_number": count // 100}),
                    lambda a: f"{len(a['accelerators'])} entries",
                ),
                ("filter by name word", _tool(client, "list-accelerators", {"name": WORDS[3]}), lambda a: f"{a['total']:,} match"),
                ("filter by tag", _tool(client, "list-accelerators", {"tags": ["batch-7"]}), lambda a: f"{a['total']:,} match"),
                (
                    "filter origin + type + classification, sorted by name desc",
                    _tool(
                        client,
                        "list-accelerators",
                        {"origin": "partner", "type": "accelerator", "classification": "Architect", "sort_by": "name", "sort_order": "desc"},
                    ),
                    lambda a: f"{a['total']:,} match",
                ),
                ("describe-accelerator (last id)", _tool(client, "describe-accelerator", {"accelerator_id": last}), lambda a: a["name"]),
                ("complete accelerator_id by id prefix", _complete(client, ids[0][:3]), lambda c: f"{c.total} match"),
                ("complete accelerator_id by name words", _complete(client, f"{WORDS[1]} {WORDS[2]}"), lambda c: f"{c.total} match"),
                ("complete the last accelerator's full id", _complete(client, last), lambda c: "found" if last in c.values else "NOT FOUND"),
            ]
            for label, call, describe in operations:
                first, _ = await _median(call, 1)
                median, answer = await _median(call, repeats)
                table.rows.append([label, median, first, describe(answer)])
            gc.collect()
            rss_warm = rss_kib()
            for _, call, _ in operations:
                for _ in range(repeats):
                    await call()
            gc.collect()
            rss_end = rss_kib()
    table.notes += [
        f"Loading the catalogue (parsing {count:,} specs in the sandbox) took {load_seconds:.1f} s and "
        f"{(rss_loaded - rss_start) / 1024:.0f} MiB of RSS: the sandbox's cost, not the server's.",
        f"RSS after one round of every operation: {rss_warm / 1024:.0f} MiB; after {repeats} more rounds: "
        f"{rss_end / 1024:.0f} MiB (growth {(rss_end - rss_warm) / 1024:+.1f} MiB).",
        "First call: completions fetch the catalogue index on first use (cached afterwards, see iac_mcp/server/lookup.py).",
        "In-process MCP client and server over the in-process sandbox (httpx ASGI transport), pacing lifted.",
    ]
    return table


def run(quick: bool) -> Table:
    return anyio.run(measure, 2_000 if quick else 10_000, 5 if quick else 20)
