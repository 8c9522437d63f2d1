"""Building blocks for tests that talk to the MCP server through a real MCP client."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from mcp import Client
from mcp.types import CallToolResult
from starlette.applications import Starlette

from iac_mcp.demo import example_arguments
from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.settings import SandboxSettings
from iac_mcp.server.app import build_server
from iac_mcp.server.state import Mode
from iac_mcp.server.upstream import sandbox_client

ERAS = ("legacy", "auto")
"""mcp 2.3 client modes: the 2025-11-25 handshake, and the stateless 2026-07-28 protocol."""

SIGNING_KEY = b"test-signing-key-0123456789abcdef"

CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYSCLOUD_", "IAC_MCP_"))}
"""The environment for server subprocesses: no Genesys or iac-mcp settings leak in from the shell."""


def sandbox(**settings: Any) -> Starlette:
    """A fresh in-process sandbox whose jobs finish at once unless told otherwise."""
    settings.setdefault("job_duration", 0)
    return create_app(SandboxSettings(**settings))


@asynccontextmanager
async def connected(
    app: Starlette, era: str, *, mode: Mode = "apply", signing_key: bytes = SIGNING_KEY, **client_options: Any
) -> AsyncIterator[Client]:
    """An in-process MCP client session with the server over `app`."""
    server = build_server(partial(sandbox_client, app), mode=mode, signing_key=signing_key)
    async with Client(server, mode=era, **client_options) as client:
        yield client


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def everything_in(result: CallToolResult) -> str:
    """All a client can see of a result, for asserting what must never appear in it."""
    return text_of(result) + json.dumps(result.structured_content or {})


async def submit_example(client: Client, description: dict[str, Any]) -> CallToolResult:
    """A dry run of a described accelerator with the required values an agent would fill in."""
    arguments = {"accelerator_id": description["id"], "parameters": example_arguments(description["parameters_schema"])}
    return await client.call_tool("submit-job", arguments)


async def all_descriptions(client: Client) -> list[dict[str, Any]]:
    """describe-accelerator of every accelerator in the catalogue."""
    listing = await client.call_tool("list-accelerators", {"page_size": 100})
    assert not listing.is_error, text_of(listing)
    described = []
    for entry in listing.structured_content["accelerators"]:
        result = await client.call_tool("describe-accelerator", {"accelerator_id": entry["id"]})
        assert not result.is_error, text_of(result)
        described.append(result.structured_content)
    return described
