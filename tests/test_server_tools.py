"""The five tools through a real in-process MCP client, in both protocol eras, on the sandbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import Client
from servers import (
    ERAS,
    SIGNING_KEY,
    all_descriptions,
    connected,
    everything_in,
    fresh_ledger,
    parameters_of,
    sandbox,
    server_settings,
    submit_example,
    text_of,
)

from iac_mcp.demo import example_arguments
from iac_mcp.genesys.client import IacClient
from iac_mcp.logic.accelerators import LISTED_DESCRIPTION_CHARS
from iac_mcp.server.app import build_server
from iac_mcp.upstream import sandbox_client

pytestmark = pytest.mark.anyio

EXPECTED_ANNOTATIONS = {
    "list-accelerators": (True, None, None, True),  # destructive/idempotent mean nothing for read-only tools (MCP spec)
    "describe-accelerator": (True, None, None, True),
    "submit-job": (False, True, False, True),
    "get-job": (True, None, None, True),
    "list-jobs": (True, None, None, True),
    "promote-job": (False, False, False, True),
}


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    return request.param


def _pick(descriptions: list[dict[str, Any]], predicate) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    found = [d for d in descriptions if predicate(d)]
    assert found, "the sandbox catalogue lacks an accelerator this test needs"
    return found[0]


async def test_tools_are_listed_with_annotations_and_output_schemas(era: str) -> None:
    async with connected(sandbox(), era) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == set(EXPECTED_ANNOTATIONS) - {"promote-job"}, "promote-job needs two orgs (test_orgs.py)"
    for name, (read_only, destructive, idempotent, open_world) in EXPECTED_ANNOTATIONS.items():
        if name not in tools:
            continue
        tool = tools[name]
        a = tool.annotations
        assert (a.read_only_hint, a.destructive_hint, a.idempotent_hint, a.open_world_hint) == (
            read_only,
            destructive,
            idempotent,
            open_world,
        ), name
        assert tool.title and tool.description and len(tool.description) > 80
        assert tool.output_schema and tool.output_schema.get("type") == "object", name


async def test_one_org_offers_no_org_argument_and_no_promotion_but_accepts_its_name(era: str) -> None:
    async with connected(sandbox(), era) as client:
        tools = (await client.list_tools()).tools
        named = await client.call_tool("list-jobs", {"org": "default"})
        other = await client.call_tool("list-jobs", {"org": "prod"})
    assert "promote-job" not in {tool.name for tool in tools}, "with one org there is nowhere to promote to"
    assert not [tool.name for tool in tools if "org" in tool.input_schema["properties"]]
    assert not named.is_error and named.structured_content["org"].startswith("default ("), text_of(named)  # type: ignore[index]
    assert other.is_error and "prod" in text_of(other)


async def test_server_instructions_give_the_workflow(era: str) -> None:
    async with connected(sandbox(), era) as client:
        instructions = (client.instructions or "").lower()
    for step in ("list-accelerators", "describe-accelerator", "dry_run", "consent", "plan_token", "get-job", "plain words"):
        assert step in instructions


async def test_list_accelerators_is_lean_and_pages(era: str) -> None:
    async with connected(sandbox(), era) as client:
        first = await client.call_tool("list-accelerators", {"page_size": 5})
        second = await client.call_tool("list-accelerators", {"page_size": 5, "page_number": 2})
    page = first.structured_content
    assert not first.is_error
    assert len(page["accelerators"]) == 5
    assert page["total"] >= 12 and page["page_count"] == -(-page["total"] // 5)
    assert page["has_next_page"] is True and page["page_number"] == 1
    assert "Uri" not in everything_in(first)
    assert {a["id"] for a in page["accelerators"]}.isdisjoint(a["id"] for a in second.structured_content["accelerators"])
    for a in page["accelerators"]:
        assert set(a) == {"id", "name", "type", "origin", "description"}
        assert 0 < len(a["description"]) <= LISTED_DESCRIPTION_CHARS


@pytest.mark.parametrize(
    ("arguments", "field", "value"),
    [
        ({"type": "blueprint"}, "type", "blueprint"),
        ({"type": "module"}, "type", "module"),
        ({"origin": "partner"}, "origin", "partner"),
        ({"origin": "community"}, "origin", "community"),
    ],
)
async def test_list_accelerators_filters(era: str, arguments: dict[str, Any], field: str, value: str) -> None:
    async with connected(sandbox(), era) as client:
        result = await client.call_tool("list-accelerators", {**arguments, "page_size": 100})
    entries = result.structured_content["accelerators"]
    assert entries, "each filter value has at least one accelerator in the sandbox catalogue"
    assert all(e[field].lower() == value for e in entries)


async def test_list_accelerators_name_filter_and_sort(era: str) -> None:
    async with connected(sandbox(), era) as client:
        result = await client.call_tool("list-accelerators", {"name": "queue", "sort_by": "name", "sort_order": "desc"})
    names = [a["name"] for a in result.structured_content["accelerators"]]
    assert names and all("queue" in n.lower() for n in names)
    assert names == sorted(names, key=str.lower, reverse=True)


async def test_list_accelerators_rejects_bad_arguments_as_tool_errors(era: str) -> None:
    async with connected(sandbox(), era) as client:
        bad_origin = await client.call_tool("list-accelerators", {"origin": "somebody"})
        bad_size = await client.call_tool("list-accelerators", {"page_size": 1000})
    assert bad_origin.is_error and "origin" in text_of(bad_origin)
    assert bad_size.is_error and "page_size" in text_of(bad_size)


async def test_describe_flattens_every_page_into_one_parameter_list(era: str) -> None:
    async with connected(sandbox(), era) as client:
        descriptions = await all_descriptions(client)
    multi = _pick(descriptions, lambda d: len({p["page"] for p in parameters_of(d)}) >= 2)
    schema = multi["parameters_schema"]
    async with connected(sandbox(), era) as client:
        raw = json.loads((await client.read_resource(f"iac://accelerators/{multi['id']}")).contents[0].text)  # type: ignore[union-attr]
    in_form = [name for page in raw["presentation"] for entry in page["schema"]["properties"] for name in entry]
    assert list(schema["properties"]) == in_form, "every page's parameters, once each, in form order"
    assert [p["page"] for p in parameters_of(multi)] == [
        page["title"] for page in raw["presentation"] for _ in page["schema"]["properties"]
    ]
    assert schema["additionalProperties"] is False and set(schema["required"]) <= set(in_form)
    for p in parameters_of(multi):
        assert p["type"] in ("string", "boolean", "integer", "number")
    enum = _pick(descriptions, lambda d: any(p.get("allowed_values") for p in parameters_of(d)))
    enum_param = next(p for p in parameters_of(enum) if p.get("allowed_values"))
    assert enum["parameters_schema"]["properties"][enum_param["name"]]["enum"]
    sensitive = _pick(descriptions, lambda d: any(p["sensitive"] for p in parameters_of(d)))
    secret = next(p for p in parameters_of(sensitive) if p["sensitive"])
    assert sensitive["parameters_schema"]["properties"][secret["name"]]["writeOnly"] is True
    assert any(d["permissions"] for d in descriptions) and any(d["creates"] for d in descriptions)
    assert any(d["documentation"] for d in descriptions)
    assert any(p.get("help_url") and p.get("display_name") for d in descriptions for p in parameters_of(d))


async def test_describe_unknown_and_invalid_ids(era: str) -> None:
    app = sandbox()
    async with connected(app, era) as client:
        missing = await client.call_tool("describe-accelerator", {"accelerator_id": "00000000-0000-0000-0000-000000000000"})
        before = sum(app.state.sandbox.requests.values())
        invalid = await client.call_tool("describe-accelerator", {"accelerator_id": "../users"})
        after = sum(app.state.sandbox.requests.values())
    assert missing.is_error
    assert "404" in text_of(missing) and "resource.not.found" in text_of(missing) and "list-accelerators" in text_of(missing)
    assert "correlation id" in text_of(missing)
    assert invalid.is_error and "No request was sent" in text_of(invalid)
    assert after == before


async def test_submit_job_reports_every_problem_at_once_and_sends_nothing(era: str) -> None:
    app = sandbox()
    async with connected(app, era) as client:
        descriptions = await all_descriptions(client)
        target = _pick(
            descriptions,
            lambda d: any(p.get("allowed_values") for p in parameters_of(d))
            and any(p["type"] in ("integer", "number", "boolean") for p in parameters_of(d))
            and any(p["required"] and p.get("default") is None for p in parameters_of(d)),
        )
        params = example_arguments(target["parameters_schema"], include_optional=True)
        missing = next(p["name"] for p in parameters_of(target) if p["required"] and p.get("default") is None)
        typed = next(p["name"] for p in parameters_of(target) if p["type"] in ("integer", "number", "boolean"))
        enum = next(p["name"] for p in parameters_of(target) if p.get("allowed_values") and p["name"] != typed)
        del params[missing]
        params[typed] = "not-a-value"
        params[enum] = "definitely-not-allowed"
        params["no_such_parameter"] = 1
        result = await client.call_tool("submit-job", {"accelerator_id": target["id"], "parameters": params})
    text = text_of(result)
    assert result.is_error
    for name in (missing, typed, enum, "no_such_parameter"):
        assert repr(name) in text
    assert "4 problem(s)" in text and "Expected:" in text
    assert app.state.sandbox.jobs_created == 0


async def test_dry_run_then_get_job_reports_the_plan(era: str) -> None:
    app = sandbox()
    async with connected(app, era) as client:
        descriptions = await all_descriptions(client)
        target = _pick(descriptions, lambda d: d.get("creates") and any(p.get("default") is not None and not p["required"] for p in parameters_of(d)))
        params = example_arguments(target["parameters_schema"])
        submitted = await client.call_tool("submit-job", {"accelerator_id": target["id"], "parameters": params})
        job = submitted.structured_content["job"]
        read = await client.call_tool("get-job", {"job_id": job["id"]})
    assert not submitted.is_error, text_of(submitted)
    assert job["dry_run"] is True and submitted.structured_content["plan_token"]
    defaults = submitted.structured_content["defaults_applied"]
    assert defaults and all(name not in params for name in defaults)
    view = read.structured_content
    assert not read.is_error
    assert view["status"] == "Complete" and view["terminal"] and view["succeeded"]
    assert view["terraform"]["kind"] == "plan" and view["terraform"]["to_add"] == len(target["creates"])
    assert "poll_after_seconds" not in view and "plan_token" in view["next_step"]
    assert app.state.sandbox.jobs_created == 1


async def test_get_job_of_a_running_job_says_when_to_poll(era: str) -> None:
    app = sandbox(job_duration=600)
    async with connected(app, era) as client:
        descriptions = await all_descriptions(client)
        target = descriptions[0]
        submitted = await submit_example(client, target)
        read = await client.call_tool("get-job", {"job_id": submitted.structured_content["job"]["id"]})
    view = read.structured_content
    assert view["terminal"] is False and view["succeeded"] is False
    assert view["poll_after_seconds"] >= 2 and "get-job" in view["next_step"]


async def test_sensitive_values_never_come_back(era: str) -> None:
    secret = "s3cr3t-Value-that-must-not-leak"
    app = sandbox()
    async with connected(app, era) as client:
        descriptions = await all_descriptions(client)
        target = _pick(descriptions, lambda d: any(p["sensitive"] and p["type"] == "string" for p in parameters_of(d)))
        params = example_arguments(target["parameters_schema"], include_optional=True)
        for p in parameters_of(target):
            if p["sensitive"] and p["type"] == "string":
                params[p["name"]] = secret
        submitted = await client.call_tool("submit-job", {"accelerator_id": target["id"], "parameters": params})
        read = await client.call_tool("get-job", {"job_id": submitted.structured_content["job"]["id"]})
        listed = await client.call_tool("list-jobs", {})
        bad = dict(params, no_such_parameter=secret)
        rejected = await client.call_tool("submit-job", {"accelerator_id": target["id"], "parameters": bad})
    assert not submitted.is_error, text_of(submitted)
    assert rejected.is_error
    for result in (submitted, read, listed, rejected):
        assert secret not in everything_in(result)
    assert "********" in submitted.structured_content["parameters"].values()


async def test_list_jobs_filters_and_defaults_to_ten(era: str) -> None:
    app = sandbox()
    async with connected(app, era) as client:
        descriptions = await all_descriptions(client)
        first, second = descriptions[0], descriptions[1]
        for target, count in ((first, 11), (second, 2)):
            for _ in range(count):
                r = await submit_example(client, target)
                assert not r.is_error, text_of(r)
        default = await client.call_tool("list-jobs", {})
        of_second = await client.call_tool("list-jobs", {"accelerator_id": second["id"]})
        complete = await client.call_tool("list-jobs", {"status": "Complete", "max_results": 100})
        bad = await client.call_tool("list-jobs", {"status": "Exploded"})
    assert default.structured_content["count"] == 10
    assert of_second.structured_content["count"] == 2
    assert all(j["accelerator_id"] == second["id"] for j in of_second.structured_content["jobs"])
    assert complete.structured_content["count"] == 13
    assert bad.is_error


async def test_unknown_job_suggests_list_jobs(era: str) -> None:
    async with connected(sandbox(), era) as client:
        result = await client.call_tool("get-job", {"job_id": "00000000-0000-0000-0000-000000000000"})
    assert result.is_error and "404" in text_of(result) and "list-jobs" in text_of(result)


async def test_missing_permission_is_named(era: str) -> None:
    app = sandbox(missing_permissions=frozenset({"infrastructureascode:job:add"}))
    async with connected(app, era) as client:
        descriptions = await all_descriptions(client)
        target = descriptions[0]
        result = await submit_example(client, target)
    text = text_of(result)
    assert result.is_error and "403" in text and "missing.any.permissions" in text
    assert "infrastructureascode:job:add" in text.split("Next:")[1]


async def test_rate_limit_reports_the_wait(era: str) -> None:
    app = sandbox(rate_limit_per_minute=3)
    async with connected(app, era) as client:
        results = [await client.call_tool("list-accelerators", {}) for _ in range(5)]
    limited = [r for r in results if r.is_error]
    assert limited, "the sandbox's rate limit must surface"
    text = text_of(limited[0])
    assert "429" in text and "wait" in text and "seconds" in text


async def test_coloured_terraform_output_is_parsed_and_shown_plain(era: str) -> None:
    async with connected(sandbox(ansi_colour=True), era) as client:
        target = (await all_descriptions(client))[0]
        submitted = await submit_example(client, target)
        read = await client.call_tool("get-job", {"job_id": submitted.structured_content["job"]["id"]})
    view = read.structured_content
    assert view["terraform"]["complete"] and view["terraform"]["to_add"] == len(target["creates"])
    assert "\x1b[" not in everything_in(read)
    assert "Plan:" in view["results"]


async def test_an_unexpected_failure_is_an_error_without_its_details(era: str, caplog: pytest.LogCaptureFixture) -> None:
    async def explode(**_: Any) -> None:
        raise RuntimeError("internal detail 7f3e that must stay in the log")

    @asynccontextmanager
    async def broken_upstream() -> AsyncIterator[IacClient]:
        async with sandbox_client(sandbox()) as client:
            client.list_accelerators = explode  # type: ignore[method-assign]
            yield client

    server = build_server(broken_upstream, server_settings(), ledger=fresh_ledger(), signing_key=SIGNING_KEY)
    async with Client(server, mode=era) as client:
        result = await client.call_tool("list-accelerators", {})
    assert result.is_error
    assert "7f3e" not in text_of(result) and "Traceback" not in text_of(result)
    assert "7f3e" in caplog.text, "the cause is logged server-side"
