"""What every benchmark shares: medians, tables, the machine, and the sandbox over real HTTP.

The sandbox runs in this process (so its counters can be read) on a real uvicorn socket,
and every side of a comparison talks to it over HTTP: only the layer being measured
differs between sides.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette

from iac_mcp.genesys.client import IacClient
from iac_mcp.genesys.config import GenesysConfig
from iac_mcp.genesys.pacing import SlidingWindowLimiter
from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.settings import SandboxSettings
from iac_mcp.server.app import ClientFactory, build_server
from iac_mcp.settings import ConsentPolicy, Settings
from iac_mcp.upstream import ledger_at

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
TESTS = REPO / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))  # the HTTP helpers of tests/http_support.py are reused, not copied

UNLIMITED_RATE = 10**9
"""Pacing and the sandbox's rate limit are lifted: the benchmarks measure iac-mcp, not Genesys' 300/min."""


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss_kib(pid: int | str = "self", key: str = "VmRSS") -> int:
    """A /proc/PID/status memory figure in KiB (VmRSS now, VmHWM the peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} for process {pid}")


@dataclass
class Table:
    """One benchmark's figures: printed, and written to results/<name>.md."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        def cell(value: Any) -> str:
            return f"{value:,.2f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)

        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in self.rows]
        lines += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def publish(self) -> Path:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"{self.name}.md"
        path.write_text(self.markdown(), encoding="utf-8")
        print(self.markdown(), flush=True)
        return path


def machine() -> str:
    """The machine the figures came from, for the top of every results file."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )
    memory = rss_kib_total()
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory / 2**20:.0f} GiB; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; mcp {version('mcp')}, iac-mcp {version('iac-mcp')}, uvicorn {version('uvicorn')}"
    )


def rss_kib_total() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def sandbox_app(**settings: Any) -> Starlette:
    """A sandbox whose jobs finish at the first read and whose rate limit is lifted."""
    settings.setdefault("job_duration", 0)
    settings.setdefault("rate_limit_per_minute", UNLIMITED_RATE)
    return create_app(SandboxSettings(**settings))


@asynccontextmanager
async def http_sandbox_client(url: str, client_id: str, client_secret: str) -> AsyncIterator[IacClient]:
    """The server's Genesys client, pointed at a sandbox over real HTTP, without pacing."""
    config = GenesysConfig.for_sandbox(url, client_id, client_secret)
    async with IacClient(config, pacer=SlidingWindowLimiter(rate=UNLIMITED_RATE)) as client:
        yield client


SIGNING_KEY = b"benchmark-signing-key-0123456789"


def bench_server(connect: ClientFactory) -> MCPServer[Any]:
    """The real server as `serve` builds it, over `connect`, with a fresh ledger of its own."""
    directory = Path(tempfile.mkdtemp(prefix="iac-mcp-bench-"))
    settings = Settings(consent=ConsentPolicy.PLAN_TOKEN)  # the flows measure the server, not a consent dialogue
    ledger = partial(ledger_at, f"sqlite:///{directory / 'ledger.sqlite3'}")
    return build_server(connect, settings, ledger=ledger, signing_key=SIGNING_KEY)


def upstream_for(app: Starlette, url: str) -> ClientFactory:
    settings = app.state.sandbox.settings
    return partial(http_sandbox_client, url, settings.client_id, settings.client_secret)


def upstream_env(app: Starlette, url: str) -> dict[str, str]:
    """Environment for `iac-mcp serve` (stdio or HTTP) to use the sandbox at `url` as Genesys."""
    settings = app.state.sandbox.settings
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYSCLOUD_", "IAC_MCP_"))}
    return clean | {
        "GENESYSCLOUD_API_REGION": url,
        "GENESYSCLOUD_OAUTHCLIENT_ID": settings.client_id,
        "GENESYSCLOUD_OAUTHCLIENT_SECRET": settings.client_secret,
        "IAC_MCP_CONSENT": "plan-token",
        "IAC_MCP_DATABASE_URL": f"sqlite:///{Path(tempfile.mkdtemp(prefix='iac-mcp-bench-')) / 'ledger.sqlite3'}",
    }


@asynccontextmanager
async def direct_client(app: Starlette, url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A plain httpx client with a sandbox token: the baseline every MCP side is compared to."""
    settings = app.state.sandbox.settings
    async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as client:
        answer = await client.post(
            "/oauth/token", auth=(settings.client_id, settings.client_secret), data={"grant_type": "client_credentials"}
        )
        answer.raise_for_status()
        client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        yield client


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    """Seconds one awaited call took."""
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


@contextmanager
def http_server(app: Starlette, url: str) -> Iterator[str]:
    """iac-mcp's HTTP app (`benchmarks.http_server`) in a subprocess over the sandbox at `url`."""
    from http_support import SIGNING_SECRET, TOKEN, free_port, server_process

    port = free_port()
    env = upstream_env(app, url) | {"BENCH_HTTP_TOKEN": TOKEN, "IAC_MCP_SIGNING_KEY": SIGNING_SECRET, "PYTHONPATH": str(REPO)}
    with server_process([sys.executable, "-m", "benchmarks.http_server", url, str(port)], env, port) as base:
        yield base


def child_pid(marker: str) -> int:
    """The pid of this process's child whose command line contains `marker`."""
    me = os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == me and marker in cmdline:
            return int(proc.name)
    raise RuntimeError(f"no child process running {marker!r}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
