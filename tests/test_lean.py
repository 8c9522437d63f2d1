"""Lean by design: compact schemas, results without nulls, the output budget and its resource,
icons and cache hints (issue 16)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp.types import ElicitResult
from pydantic import BaseModel
from servers import ERAS, QUEUE_MODULE_NAME, accept_consent, connected, sandbox, text_of

from iac_mcp.demo import example_arguments
from iac_mcp.server.tools.common import ICONS, compact_schema, lean_content

pytestmark = pytest.mark.anyio


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _walk(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        return [node, *(sub for value in node.values() for sub in _walk(value))]
    if isinstance(node, list):
        return [sub for value in node for sub in _walk(value)]
    return []


def test_compaction_drops_titles_docstrings_and_null_alternatives_and_shares_only_what_repeats() -> None:
    schema = {
        "title": "Result",
        "description": "A class docstring.",
        "type": "object",
        "properties": {
            "title": {"title": "Title", "type": "string"},  # a property named title stays
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "description": "Kept."},
            "token": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Token"},
            "a": {"$ref": "#/$defs/A"},
            "b": {"$ref": "#/$defs/B"},
            "once": {"$ref": "#/$defs/Once", "description": "Used once."},
        },
        "required": ["title", "token", "a", "b", "once"],
        "$defs": {
            "A": {"title": "A", "type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
            "B": {"title": "B", "type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
            "Once": {"title": "Once", "description": "Doc.", "type": "object", "properties": {"y": {"type": "string"}}},
        },
    }
    assert compact_schema(schema) == {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "note": {"type": "string", "description": "Kept."},
            "token": {"type": "string"},
            "a": {"$ref": "#/$defs/A"},
            "b": {"$ref": "#/$defs/A"},
            "once": {"type": "object", "properties": {"y": {"type": "string"}}, "description": "Used once."},
        },
        "required": ["title", "a", "b", "once"],
        "$defs": {"A": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}},
    }


class _Item(BaseModel):
    n: int
    s: str | None = None
    tags: list[str] = []


class _Result(BaseModel):
    kept: list[int]
    status: str | None
    items: list[_Item] = []
    free: dict[str, Any] = {}
    note: str = ""
    count: int = 0
    flag: bool = False


def test_lean_content_omits_nulls_and_the_empties_a_default_stands_for() -> None:
    result = _Result(kept=[], status=None, items=[_Item(n=0), _Item(n=1, s="x", tags=["a"])], free={"a": None})
    assert lean_content(result) == {
        "kept": [],
        "items": [{"n": 0}, {"n": 1, "s": "x", "tags": ["a"]}],
        "free": {"a": None},
        "count": 0,
        "flag": False,
    }


async def test_tools_list_is_lean_ordered_and_has_icons(era: str) -> None:
    async with connected(sandbox(), era) as client:
        listed = await client.list_tools()
    names = [tool.name for tool in listed.tools]
    assert names == ["list-accelerators", "describe-accelerator", "submit-job", "get-job", "list-jobs"]  # one org: no promotion
    for tool in listed.tools:
        assert tool.icons == ICONS, tool.name
        described = [n for n in _walk(tool.output_schema) if isinstance(n.get("description"), str)]
        assert not described, f"{tool.name}: output schemas are structure only"
        for schema in (tool.input_schema, tool.output_schema):
            nodes = _walk(schema)
            assert not [n for n in nodes if "title" in n and isinstance(n["title"], str)], tool.name
            assert {"type": "null"} not in [choice for n in nodes for choice in n.get("anyOf", ())], tool.name
            assert not [n for n in nodes if n.get("default", 0) is None], tool.name


async def test_server_icon_and_cache_hints_on_the_2026_protocol() -> None:
    async with connected(sandbox(), "auto") as client:
        listed = await client.list_tools()
        assert listed.cache_scope == "public" and (listed.ttl_ms or 0) >= 3600 * 1000
        found = await client.call_tool("list-accelerators", {"name": QUEUE_MODULE_NAME})
        accelerator = found.structured_content["accelerators"][0]["id"]
        spec = await client.read_resource(f"iac://accelerators/{accelerator}")
        assert spec.cache_scope == "private" and 0 < (spec.ttl_ms or 0) <= 5 * 60 * 1000
        jobs_listing = await client.call_tool("list-jobs", {})
        assert not jobs_listing.is_error, text_of(jobs_listing)


async def test_get_job_bounds_its_output_and_links_the_whole_of_it(era: str) -> None:
    async with connected(sandbox(), era) as client:
        found = await client.call_tool("list-accelerators", {"name": QUEUE_MODULE_NAME})
        accelerator = found.structured_content["accelerators"][0]["id"]
        described = await client.call_tool("describe-accelerator", {"accelerator_id": accelerator})
        params = example_arguments(described.structured_content["parameters_schema"])
        planned = await client.call_tool("submit-job", {"accelerator_id": accelerator, "parameters": params})
        job_id = planned.structured_content["job"]["id"]
        small = await client.call_tool("get-job", {"job_id": job_id, "wait_seconds": 10, "max_output_chars": 120})
        wide = await client.call_tool("get-job", {"job_id": job_id, "max_output_chars": 6000})
        view = small.structured_content
        assert view["succeeded"] and view["output_uri"] == f"iac://jobs/{job_id}/output", text_of(small)
        whole = await client.read_resource(view["output_uri"])
        output = whole.contents[0].text  # type: ignore[union-attr]
        excerpt = view["results"]
        assert f"[... {len(output) - 120} of {len(output)} characters omitted ...]" in excerpt, excerpt
        assert len(excerpt) < 120 + 80  # the head, the tail and the marker saying what was left out
        assert excerpt.startswith(output[:40]) and excerpt.endswith(output[-80:])
        assert wide.structured_content["results"] == output
        links = [c for c in small.content if c.type == "resource_link"]
        assert [(str(link.uri), link.mime_type, link.size) for link in links] == [
            (view["output_uri"], "text/plain", len(output.encode()))
        ]
        listing = await client.call_tool("list-jobs", {"max_results": 5})
        entry = next(j for j in listing.structured_content["jobs"] if j["id"] == job_id)
        assert entry["status"] == "Complete" and entry["dry_run"] is True and "results" not in entry
        assert set(entry) <= {"id", "accelerator_id", "dry_run", "status", "submitted_at", "error_code", "error_message"}
        assert view["outcome"] == "plan completed successfully"  # in words: get-job's
        assert listing.structured_content["next_step"]
        assert json.dumps(view).count("null") == 0


def _next_step(content: dict[str, Any]) -> str:
    """Where a result says what to do next: on itself, or on the job it carries."""
    step = content.get("next_step") or (content.get("job") or {}).get("next_step")
    assert isinstance(step, str) and step, f"no next step in {sorted(content)}"
    return step


async def test_the_whole_flow_runs_on_structured_content_alone(era: str) -> None:
    """Claude Code, VS Code and pydantic-ai hand the model only `structuredContent`: an agent that
    never sees the text must still find, plan, apply and report."""
    async with connected(sandbox(), era, elicitation_callback=accept_consent) as client:

        async def call(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
            result = await client.call_tool(tool, arguments)
            assert not result.is_error and result.structured_content is not None, tool
            _next_step(result.structured_content)
            return result.structured_content

        found = await call("list-accelerators", {"name": QUEUE_MODULE_NAME})
        accelerator = found["accelerators"][0]["id"]
        described = await call("describe-accelerator", {"accelerator_id": accelerator})
        arguments = {"accelerator_id": accelerator, "parameters": example_arguments(described["parameters_schema"])}
        planned = await call("submit-job", arguments)
        plan = await call("get-job", {"job_id": planned["job"]["id"], "wait_seconds": 10})
        assert plan["terminal"] and plan["succeeded"] and "plan" in plan["outcome"]
        applied = await call("submit-job", {**arguments, "dry_run": False, "plan_token": planned["plan_token"]})
        assert applied["consent"] == "accepted" and applied["org"].startswith("default (")
        done = await call("get-job", {"job_id": applied["job"]["id"], "wait_seconds": 10})
    assert done["succeeded"] and done["outcome"] == "applied successfully"
    assert "Report" in _next_step(done)


async def test_a_declined_real_run_says_what_next_in_its_structured_content() -> None:
    async def decline(context: Any, params: Any) -> Any:
        return ElicitResult(action="decline")

    async with connected(sandbox(), "auto", elicitation_callback=decline) as client:
        listing = await client.call_tool("list-accelerators", {"name": QUEUE_MODULE_NAME})
        accelerator = listing.structured_content["accelerators"][0]["id"]  # type: ignore[index]
        described = await client.call_tool("describe-accelerator", {"accelerator_id": accelerator})
        arguments = {"accelerator_id": accelerator, "parameters": example_arguments(described.structured_content["parameters_schema"])}  # type: ignore[index]
        planned = await client.call_tool("submit-job", arguments)
        token = planned.structured_content["plan_token"]  # type: ignore[index]
        declined = await client.call_tool("submit-job", {**arguments, "dry_run": False, "plan_token": token})
    content = declined.structured_content
    assert content is not None and content["submitted"] is False and content["consent"] == "declined"
    assert "do not resubmit" in _next_step(content)
