"""Bad input: arguments of any shape to every tool give a normal or an `is_error` result,
never a protocol error or a crash, and never a request upstream whose path carries an id
that was not validated."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.types import CallToolResult
from reliability import OPAQUE, fast_connected, record_paths, unsafe_segments
from servers import ERAS, sandbox, text_of

TOOLS = ("list-accelerators", "describe-accelerator", "submit-job", "get-job", "list-jobs", "promote-job")
CALL_BOUND_SECONDS = 10

NASTY = st.sampled_from(
    ["", ".", "..", "../..", "a/b", "x?y=1", "#frag", "%2F", "%2e%2e", "..%2F", "\x00", "\r\n", "é", "\u202e", "🙂", " ", "a" * 129]
)
WELL_FORMED = st.sampled_from(["00000000-0000-0000-0000-000000000000", "3b1c9d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "x.y_z~1"])
"""Ids that pass validation and so must reach the sandbox: proof the recorder sees requests."""
TEXT = st.one_of(
    NASTY, WELL_FORMED, st.text(max_size=40), st.builds("".join, st.lists(NASTY | st.text(max_size=3), max_size=5))
)
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12)


@pytest.fixture(scope="module", params=ERAS)
def session(request: pytest.FixtureRequest) -> Iterator[tuple[BlockingPortal, Client, list[str], dict[str, list[str]]]]:
    """One server and client per era, driven from hypothesis' synchronous examples via a portal."""
    app = sandbox(job_duration=0)
    paths = record_paths(app)
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(
        fast_connected(app, request.param, orgs=("dev", "prod"))
    ) as client:
        tools = portal.call(client.list_tools).tools
        properties = {t.name: sorted(t.input_schema.get("properties", {})) for t in tools}
        assert set(properties) == set(TOOLS)
        yield portal, client, paths, properties
    assert any("/accelerators/" in path for path in paths), "the recorder saw no id-carrying request"


async def _bounded_call(client: Client, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    with anyio.fail_after(CALL_BOUND_SECONDS):
        return await client.call_tool(tool, arguments)


def _arguments(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Known argument names with values of any shape, now and then an unknown name."""
    return st.dictionaries(st.sampled_from(names) | TEXT, JSON | TEXT, max_size=len(names) + 1)


@pytest.mark.parametrize("tool", TOOLS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_arguments_give_a_result_never_a_crash(
    session: tuple[BlockingPortal, Client, list[str], dict[str, list[str]]], tool: str, data: st.DataObject
) -> None:
    portal, client, paths, properties = session
    arguments = data.draw(_arguments(properties[tool]), label="arguments")
    result = portal.call(_bounded_call, client, tool, arguments)
    if result.is_error:
        assert not OPAQUE.fullmatch(text_of(result).strip()), f"an unexpected exception escaped {tool}"
    assert unsafe_segments(paths) == []


@pytest.mark.parametrize("tool", ["describe-accelerator", "get-job", "submit-job", "promote-job"])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(identifier=TEXT)
def test_hostile_ids_never_reach_a_url(
    session: tuple[BlockingPortal, Client, list[str], dict[str, list[str]]], tool: str, identifier: str
) -> None:
    portal, client, paths, _ = session
    key = "job_id" if tool in ("get-job", "promote-job") else "accelerator_id"
    arguments = {key: identifier, "parameters": {}} | ({"from_org": "default", "to_org": "default"} if tool == "promote-job" else {})
    result = portal.call(_bounded_call, client, tool, arguments)
    assert result.is_error or identifier.isascii()
    if result.is_error:
        assert not OPAQUE.fullmatch(text_of(result).strip())
    assert unsafe_segments(paths) == []
