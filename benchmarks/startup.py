"""Start-up: from spawning a server over stdio to its first `tools/list` answer, beside a
minimal `MCPServer` with one tool spawned the same way (issue 16: at most 1.10 × it), and
the server process's memory after serving a whole flow.

`iac-mcp serve` runs as a user runs it, against a Genesys that is another server (the
sandbox over real HTTP), and as the demo runs it, with the sandbox embedded (`--sandbox`).
Within each round every side is spawned once, the order reversed every other round, so
that machine noise hits all sides alike; the figures are medians over the rounds.

`BENCH_SERVER_PYTHON=/path/to/venv/bin/python` spawns every side with that interpreter, such
as a virtual environment with iac-mcp installed as a user installs it (`pip install iac-mcp`,
without the test extras: the test venv's rich and pygments, which httpx imports when they
are present, cost about 50 ms). The benchmark itself still runs in this one.
`BENCH_BASELINE=/path/to/checkout` (a `git worktree` of an earlier commit) adds that
checkout's `iac-mcp serve` against the same Genesys, spawned in the same rounds: before and
after side by side in one run.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

from benchmarks.common import Table, child_pid, rss_kib, sandbox_app, upstream_env
from iac_mcp.sandbox.serve import running_sandbox

SERVE = ["-m", "iac_mcp", "serve", "--log-level", "WARNING"]
EMBEDDED = [*SERVE, "--sandbox", "--job-duration", "0", "--consent", "plan-token"]
MINIMAL = Path(__file__).with_name("minimal_server.py")
ERAS = (("auto", "2026-07-28 (mode=auto)"), ("legacy", "2025-11-25 handshake (mode=legacy)"))
NOT_MEASURED = "—"
SETTINGS_PREFIXES = ("GENESYSCLOUD_", "IAC_MCP_")
SERVER_PYTHON = os.environ.get("BENCH_SERVER_PYTHON") or sys.executable
BASELINE = os.environ.get("BENCH_BASELINE")


@dataclass(frozen=True)
class Side:
    """One server to spawn: how, and whether it can serve the agent flow."""

    label: str
    args: list[str]
    marker: str
    """A piece of its command line, to find its process."""
    env: dict[str, str] | None = None
    """Variables over mcp's default environment for stdio servers (which every side gets)."""
    flows: bool = True
    cwd: str | None = None
    """Where it runs: `-m iac_mcp` imports the checkout there (the baseline's) before any installed one."""


@dataclass(frozen=True)
class Sample:
    listed: float
    listed_rss: int
    flowed: float | None = None
    flowed_rss: int | None = None
    peak_rss: int | None = None


async def _spawn(side: Side, era: str) -> Sample:
    """Spawn `side`, time its first tools/list answer, then (if it can) a whole flow."""
    from http_support import run_flow

    started = time.perf_counter()
    parameters = StdioServerParameters(command=SERVER_PYTHON, args=side.args, env=side.env, cwd=side.cwd)
    async with Client(parameters, mode=era) as client:
        await client.list_tools()
        listed = time.perf_counter() - started
        pid = child_pid(side.marker)
        listed_rss = rss_kib(pid)
        if not side.flows:
            return Sample(listed, listed_rss)
        await run_flow(client)
        return Sample(listed, listed_rss, time.perf_counter() - started, rss_kib(pid), rss_kib(pid, "VmHWM"))


def _settings_only(env: dict[str, str]) -> dict[str, str]:
    """The variables that configure iac-mcp: the rest of this process's environment (such as
    PYTHONDONTWRITEBYTECODE) would make this side spawn unlike the others."""
    return {k: v for k, v in env.items() if k.startswith(SETTINGS_PREFIXES)}


def _median_ms(values: list[float | None]) -> float | str:
    known = [v for v in values if v is not None]
    return statistics.median(known) * 1000 if known else NOT_MEASURED


def _median_mib(values: list[int | None]) -> float | str:
    known = [v for v in values if v is not None]
    return statistics.median(known) / 1024 if known else NOT_MEASURED


async def measure(repeats: int) -> Table:
    app = sandbox_app()
    with running_sandbox(app=app) as url:
        genesys = _settings_only(upstream_env(app, url))
        sides = [
            Side("minimal MCPServer, one tool", [str(MINIMAL)], MINIMAL.name, flows=False),
            Side("iac-mcp serve, Genesys over HTTP", SERVE, "iac_mcp serve", env=genesys),
            Side("iac-mcp serve --sandbox (embedded)", EMBEDDED, "iac_mcp serve"),
        ]
        if BASELINE:
            sides.append(Side(f"baseline: {BASELINE}, Genesys over HTTP", SERVE, "iac_mcp serve", env=genesys, cwd=BASELINE))
        samples: dict[tuple[str, str], list[Sample]] = {(era, side.label): [] for era, _ in ERAS for side in sides}
        for round_ in range(repeats):
            for era, _ in ERAS:
                for side in sides if round_ % 2 == 0 else sides[::-1]:
                    samples[era, side.label].append(await _spawn(side, era))

    table = Table(
        "startup",
        f"Start-up over stdio: spawn to first tools/list answer, beside a minimal MCPServer (median of {repeats} spawns)",
        [
            "protocol",
            "server",
            "spawn → tools/list ms",
            "× minimal",
            "RSS at tools/list MiB",
            "spawn → flow done ms",
            "RSS after flow MiB",
            "peak RSS (VmHWM) MiB",
        ],
    )
    for era, era_label in ERAS:
        minimal = samples[era, sides[0].label]
        for side in sides:
            runs = samples[era, side.label]
            listed = statistics.median(s.listed for s in runs)
            table.rows.append(
                [
                    era_label,
                    side.label,
                    listed * 1000,
                    statistics.median(s.listed / m.listed for s, m in zip(runs, minimal, strict=True)),
                    statistics.median(s.listed_rss for s in runs) / 1024,
                    _median_ms([s.flowed for s in runs]),
                    _median_mib([s.flowed_rss for s in runs]),
                    _median_mib([s.peak_rss for s in runs]),
                ]
            )
    python = SERVER_PYTHON.rsplit("/", 1)[-1]
    if sys.executable != SERVER_PYTHON:
        table.notes.append(f"Every side spawned with `{SERVER_PYTHON}` (BENCH_SERVER_PYTHON).")
    if BASELINE:
        table.notes.append(f"baseline: the checkout at {BASELINE} (BENCH_BASELINE), run there as `iac-mcp serve`.")
    table.notes += [
        f"Spawned by mcp's stdio client, in turn, the order reversed every other round: `{python} benchmarks/{MINIMAL.name}`, "
        f"`{python} {' '.join(SERVE)}` with the GENESYSCLOUD_* variables naming a sandbox served over HTTP by the benchmark "
        f"process (one ledger for all spawns, as a user's), and `{python} {' '.join(EMBEDDED)}`.",
        "× minimal: the median over the rounds of this side's time over the minimal server's in the same round and "
        "protocol era (the goal is ≤ 1.10); paired by round, so that drift between rounds cancels out.",
        "mcp itself imports starlette and uvicorn (`import mcp` does), so the minimal server pays for them as well.",
        "The flow is the whole agent flow (list, describe, dry run, wait, apply with the plan token, wait); "
        "the minimal server has none.",
    ]
    return table


def run(quick: bool) -> Table:
    return anyio.run(measure, 2 if quick else 15)
