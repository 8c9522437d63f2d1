"""Soak: thousands of mixed tool calls over real streamable HTTP, with the process's memory
sampled after a warm-up and at the end: it must not keep growing."""

from __future__ import annotations

import gc
import logging
from functools import partial
from pathlib import Path

import anyio
import pytest
from http_support import SIGNING_SECRET, TOKEN, http_client, running_http
from mcp import Client
from reliability import fast_upstream
from servers import fresh_ledger, sandbox, server_settings, text_of

from iac_mcp.demo import example_arguments
from iac_mcp.transports.http import create_app

pytestmark = pytest.mark.anyio

CALLS = 2000
WARM_UP = 400
GROWTH_BOUND_MIB = 20
SOAK_BOUND_SECONDS = 240


def rss_mib() -> float:
    """Resident set size of this process (server, sandbox and client all live here)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def _mixed_calls(client: Client, count: int, accelerator_id: str, params: dict[str, object]) -> int:
    """`count` calls cycling through every tool; returns how many were errors."""
    job_id = ""
    errors = 0
    for i in range(count):
        kind = i % 5
        if kind == 0:
            result = await client.call_tool("list-accelerators", {"page_size": 25})
        elif kind == 1:
            result = await client.call_tool("describe-accelerator", {"accelerator_id": accelerator_id})
        elif kind == 2:
            result = await client.call_tool("submit-job", {"accelerator_id": accelerator_id, "parameters": params})
            job_id = result.structured_content["job"]["id"] if not result.is_error else job_id
        elif kind == 3:
            result = await client.call_tool("get-job", {"job_id": job_id})
        else:
            result = await client.call_tool("list-jobs", {"max_results": 10})
        errors += result.is_error
    return errors


@pytest.mark.slow
async def test_memory_stays_flat_over_thousands_of_http_calls(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)  # pytest keeps every captured record: thousands of INFO lines would be the growth
    app = sandbox(rate_limit_per_minute=10**6)
    settings = server_settings(http_tokens=(TOKEN,), signing_key=SIGNING_SECRET)
    http = create_app(fast_upstream(app), settings, ledger=fresh_ledger())
    with running_http(http) as url, anyio.fail_after(SOAK_BOUND_SECONDS):
        async with http_client(url, "auto") as client:
            listing = await client.call_tool("list-accelerators", {"name": "Simple Queue"})
            target = listing.structured_content["accelerators"][0]["id"]
            described = await client.call_tool("describe-accelerator", {"accelerator_id": target})
            assert not described.is_error, text_of(described)
            params = example_arguments(described.structured_content["parameters_schema"])
            run = partial(_mixed_calls, client, accelerator_id=target, params=params)
            assert await run(WARM_UP) == 0
            gc.collect()
            before = rss_mib()
            assert await run(CALLS - WARM_UP) == 0
            gc.collect()
            after = rss_mib()
    assert app.state.sandbox.token_requests == 1
    assert after - before < GROWTH_BOUND_MIB, f"RSS grew {after - before:.1f} MiB over {CALLS - WARM_UP} calls"
