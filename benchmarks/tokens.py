"""Token economy: how much of a model's context each tool result costs, against the raw
Genesys JSON for the same data, for a small and a large accelerator, a long job output and
the whole `tools/list` payload.

Tokens are approximated as characters / 4 (no tokenizer is installed, and none is
downloaded): the ratios, not the absolute counts, are the point.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp import Client
from mcp.types import CallToolResult

from benchmarks.catalog import spec, write_catalog
from benchmarks.common import Table, bench_server, direct_client, sandbox_app, upstream_for
from benchmarks.overhead import API
from iac_mcp.demo import example_arguments
from iac_mcp.sandbox.serve import running_sandbox

LARGE = {"parameters": 120, "pages": 6, "entities": 60}


def tokens(chars: int) -> int:
    return round(chars / 4)


def sizes(result: CallToolResult) -> tuple[int, int, int]:
    """(text, structured, whole result) in bytes of UTF-8 JSON or text."""
    text = sum(len(c.text.encode()) for c in result.content if c.type == "text")
    structured = len(json.dumps(result.structured_content or {}, separators=(",", ":")).encode())
    whole = len(result.model_dump_json(by_alias=True, exclude_none=True).encode())
    return text, structured, whole


async def _raw(http: httpx.AsyncClient, path: str, params: dict[str, str] | None = None) -> int:
    answer = await http.get(path, params=params)
    answer.raise_for_status()
    return len(answer.content)


async def _call(client: Client, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        raise RuntimeError(f"{tool} failed: {result.content}")
    return result


async def _applied_job(client: Client, accelerator_id: str) -> tuple[str, str]:
    """(dry-run job id, real-run job id) of a plan-then-apply flow on `accelerator_id`."""
    described = await _call(client, "describe-accelerator", {"accelerator_id": accelerator_id})
    params = example_arguments(described.structured_content["parameters_schema"], include_optional=True)
    planned = await _call(client, "submit-job", {"accelerator_id": accelerator_id, "parameters": params})
    plan_id = planned.structured_content["job"]["id"]
    await _call(client, "get-job", {"job_id": plan_id, "wait_seconds": 5})
    token = planned.structured_content["plan_token"]
    applied = await _call(
        client, "submit-job", {"accelerator_id": accelerator_id, "parameters": params, "dry_run": False, "plan_token": token}
    )
    return plan_id, applied.structured_content["job"]["id"]


async def measure() -> Table:
    table = Table(
        "tokens",
        "Token economy: tool result vs raw Genesys JSON (bytes; tokens ≈ chars/4)",
        [
            "what",
            "raw JSON B",
            "text B",
            "structured B",
            "whole result B",
            "text / raw",
            "structured / raw",
            "whole / raw",
            "≈ raw tokens",
            "≈ text tokens",
        ],
    )
    with tempfile.TemporaryDirectory() as catalog:
        write_catalog(Path(catalog), 1, **LARGE)
        large = spec(0, **LARGE)["id"]
        app = sandbox_app(catalog_dirs=[Path(catalog)])
        with running_sandbox(app=app) as url:
            server = bench_server(upstream_for(app, url))
            async with Client(server, mode="auto") as client, direct_client(app, url) as http:
                listing = await _call(client, "list-accelerators", {"name": "Simple Queue"})
                small = listing.structured_content["accelerators"][0]["id"]
                small_plan, _ = await _applied_job(client, small)
                _, large_apply = await _applied_job(client, large)
                rows: list[tuple[str, str, dict[str, Any], str, dict[str, str] | None]] = [
                    (
                        "list-accelerators (25 per page)",
                        "list-accelerators",
                        {"page_size": 25},
                        f"{API}/accelerators",
                        {"pageSize": "25"},
                    ),
                    (
                        "describe-accelerator, small (Simple Queue)",
                        "describe-accelerator",
                        {"accelerator_id": small},
                        f"{API}/accelerators/{small}",
                        None,
                    ),
                    (
                        f"describe-accelerator, large ({LARGE['parameters']} params, {LARGE['pages']} pages)",
                        "describe-accelerator",
                        {"accelerator_id": large},
                        f"{API}/accelerators/{large}",
                        None,
                    ),
                    (
                        "get-job, small dry run",
                        "get-job",
                        {"job_id": small_plan},
                        f"{API}/jobs/{small_plan}",
                        {"details": "true"},
                    ),
                    (
                        f"get-job, long output (apply of {LARGE['entities']} resources)",
                        "get-job",
                        {"job_id": large_apply},
                        f"{API}/jobs/{large_apply}",
                        {"details": "true"},
                    ),
                    (
                        "list-jobs (10)",
                        "list-jobs",
                        {"max_results": 10},
                        f"{API}/jobs",
                        {"maxResults": "10", "includeErrors": "true"},
                    ),
                ]
                for label, tool, arguments, path, params in rows:
                    raw = await _raw(http, path, params)
                    text, structured, whole = sizes(await _call(client, tool, arguments))
                    table.rows.append(
                        [
                            label,
                            raw,
                            text,
                            structured,
                            whole,
                            f"{text / raw:.3f}",
                            f"{structured / raw:.2f}",
                            f"{whole / raw:.2f}",
                            tokens(raw),
                            tokens(text),
                        ]
                    )
                tools = await client.list_tools()
                listed = tools.model_dump_json(by_alias=True, exclude_none=True)
                label = f"tools/list (all {len(tools.tools)} tools, schemas included)"
                table.rows.append([label, "", "", "", len(listed.encode()), "", "", "", "", tokens(len(listed))])
    table.notes += [
        "text B: the text content a model reads; structured B: `structuredContent` as compact JSON; whole result B: "
        "the full CallToolResult as JSON (a client that forwards both pays for both).",
        "raw JSON: the sandbox's answer to the same GET (Genesys' wire format); the large accelerator and its job are "
        "generated in a temporary --catalog directory (benchmarks/catalog.py).",
        "Tokens are approximated as characters / 4; no tokenizer is installed and none was downloaded.",
    ]
    return table


def run(quick: bool) -> Table:
    return anyio.run(measure)
