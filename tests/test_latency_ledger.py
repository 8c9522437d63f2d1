"""What a tool call asks of the ledger: every unit of ledger work is a connection checked out
and, when it writes, a commit (on SQLite an fsync). Read tools must stay (nearly) free of
both; a dry run pays only for its bookkeeping. Counts, never times."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from mcp import Client
from servers import QUEUE_MODULE_NAME, connected, sandbox, submit_example, text_of
from sqlalchemy import Engine, event
from sqlalchemy.pool import Pool

pytestmark = pytest.mark.anyio

DRY_RUN_WRITES = 3
"""The attempt with its audit record before the POST; the claim, then the attempt's end with its
outcome record, after it: one transaction each."""


@contextmanager
def ledger_work() -> Iterator[Counter[str]]:
    """Counts connections checked out ("units") and commits ("writes") while the block runs."""
    seen: Counter[str] = Counter()

    def unit(*_: Any) -> None:
        seen["units"] += 1

    def write(*_: Any) -> None:
        seen["writes"] += 1

    event.listen(Pool, "checkout", unit)
    event.listen(Engine, "commit", write)
    try:
        yield seen
    finally:
        event.remove(Pool, "checkout", unit)
        event.remove(Engine, "commit", write)


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


async def test_read_tools_cost_at_most_one_read_and_a_dry_run_three_writes() -> None:
    async with connected(sandbox(), "auto") as client:
        listing = await call(client, "list-accelerators", {"name": QUEUE_MODULE_NAME})
        target = listing["accelerators"][0]["id"]
        described = await call(client, "describe-accelerator", {"accelerator_id": target})
        first = await submit_example(client, described)
        assert not first.is_error, text_of(first)
        job = first.structured_content["job"]["id"]
        await call(client, "get-job", {"job_id": job})  # its final status is written once

        reads = {
            "list-accelerators": {"page_size": 25},
            "describe-accelerator": {"accelerator_id": target},
            "get-job": {"job_id": job},
        }
        for tool, arguments in reads.items():
            with ledger_work() as seen:
                await call(client, tool, arguments)
            assert seen == Counter(), f"{tool} touched the ledger: {dict(seen)}"

        with ledger_work() as seen:
            await call(client, "list-jobs", {"max_results": 10})
        assert seen == Counter(units=1), "list-jobs reads which jobs are ours once, and writes nothing"

        with ledger_work() as seen:
            again = await submit_example(client, described)
        assert not again.is_error, text_of(again)
        assert seen["writes"] <= DRY_RUN_WRITES, f"a dry run (submitter known) wrote {dict(seen)}"
        assert seen["units"] == seen["writes"], "a dry run reads nothing back once its submitter is known"
