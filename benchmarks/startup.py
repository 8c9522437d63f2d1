"""Start-up: from spawning `iac-mcp serve --sandbox` to the first `tools/list` answer over
stdio, and the server process's peak memory (VmHWM) after serving a whole flow.
"""

from __future__ import annotations

import statistics
import sys
import time

import anyio
from mcp import Client, StdioServerParameters

from benchmarks.common import Table, child_pid, rss_kib

COMMAND = ["-m", "iac_mcp", "serve", "--sandbox", "--job-duration", "0", "--log-level", "WARNING", "--consent", "plan-token"]


async def _one(era: str) -> tuple[float, float, int, int]:
    """(seconds to the first tools/list answer, seconds to a finished flow, RSS KiB, peak RSS KiB)."""
    from http_support import run_flow

    started = time.perf_counter()
    async with Client(StdioServerParameters(command=sys.executable, args=COMMAND), mode=era) as client:
        await client.list_tools()
        first = time.perf_counter() - started
        await run_flow(client)
        flow = time.perf_counter() - started
        pid = child_pid("iac_mcp serve")
        return first, flow, rss_kib(pid), rss_kib(pid, "VmHWM")


async def measure(repeats: int) -> Table:
    table = Table(
        "startup",
        f"Start-up over stdio: spawn to first tools/list answer (median of {repeats} spawns)",
        ["protocol", "spawn → tools/list ms", "spawn → flow done ms", "RSS after flow MiB", "peak RSS (VmHWM) MiB"],
    )
    for era, label in (("auto", "2026-07-28 (mode=auto)"), ("legacy", "2025-11-25 handshake (mode=legacy)")):
        runs = [await _one(era) for _ in range(repeats)]
        table.rows.append(
            [
                label,
                statistics.median(r[0] for r in runs) * 1000,
                statistics.median(r[1] for r in runs) * 1000,
                statistics.median(r[2] for r in runs) / 1024,
                statistics.median(r[3] for r in runs) / 1024,
            ]
        )
    table.notes += [
        f"`{sys.executable.rsplit('/', 1)[-1]} {' '.join(COMMAND)}`, spawned by mcp's stdio client; the sandbox runs inside the server process.",
        "The flow is the whole agent flow (list, describe, dry run, wait, apply with the plan token, wait).",
    ]
    return table


def run(quick: bool) -> Table:
    return anyio.run(measure, 2 if quick else 7)
