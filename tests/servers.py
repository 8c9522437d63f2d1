"""Building blocks for tests that talk to the MCP server through a real MCP client."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult
from starlette.applications import Starlette

from iac_mcp.demo import example_arguments
from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.settings import SandboxSettings
from iac_mcp.server.app import LedgerFactory, build_server
from iac_mcp.settings import Mode, Settings
from iac_mcp.upstream import ledger_at, sandbox_client

QUEUE_MODULE_NAME = "Simple Queue Module"
"""A built-in accelerator with no sensitive parameters: its output is shown in full."""

ERAS = ("legacy", "auto")
"""mcp 2.3 client modes: the 2025-11-25 handshake, and the stateless 2026-07-28 protocol."""

SIGNING_KEY = b"test-signing-key-0123456789abcdef"

CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYSCLOUD_", "IAC_MCP_"))} | {
    "XDG_STATE_HOME": tempfile.mkdtemp(prefix="iac-mcp-state-")
}
"""The environment for server subprocesses: no Genesys or iac-mcp settings leak in from the shell,
and the default ledger lives in a directory of the test run's own."""


def fresh_ledger_url() -> str:
    """A new, empty SQLite ledger in a temporary directory."""
    return f"sqlite:///{Path(tempfile.mkdtemp(prefix='iac-mcp-ledger-')) / 'ledger.sqlite3'}"


def fresh_ledger(url: str | None = None) -> LedgerFactory:
    """Opens the ledger at `url` (a new empty one by default) for one server's lifetime."""
    return partial(ledger_at, url or fresh_ledger_url())


def server_settings(**overrides: Any) -> Settings:
    """Settings as a test server runs with: apply mode, the consent question asked."""
    return Settings(**overrides)


def sandbox(**settings: Any) -> Starlette:
    """A fresh in-process sandbox whose jobs finish at once unless told otherwise."""
    settings.setdefault("job_duration", 0)
    return create_app(SandboxSettings(**settings))


@asynccontextmanager
async def connected(
    app: Starlette,
    era: str,
    *,
    mode: Mode = Mode.APPLY,
    signing_key: bytes = SIGNING_KEY,
    ledger: LedgerFactory | None = None,
    settings: Settings | None = None,
    **client_options: Any,
) -> AsyncIterator[Client]:
    """An in-process MCP client session with the server over `app`."""
    server = build_server(
        partial(sandbox_client, app),
        settings or server_settings(mode=mode),
        ledger=ledger or fresh_ledger(),
        signing_key=signing_key,
    )
    async with Client(server, mode=era, **client_options) as client:
        yield client


async def accept_consent(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
    """An elicitation callback that confirms, as a user approving the real run would."""
    return ElicitResult(action="accept", content={"confirm": True})


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def everything_in(result: CallToolResult) -> str:
    """All a client can see of a result, for asserting what must never appear in it."""
    return text_of(result) + json.dumps(result.structured_content or {})


async def submit_example(client: Client, description: dict[str, Any]) -> CallToolResult:
    """A dry run of a described accelerator with the required values an agent would fill in."""
    arguments = {"accelerator_id": description["id"], "parameters": example_arguments(description["parameters_schema"])}
    return await client.call_tool("submit-job", arguments)


def parameters_of(description: dict[str, Any]) -> list[dict[str, Any]]:
    """A describe-accelerator result's parameters, in form order, as an agent reads them out of
    its `parameters_schema`: one dict each, under the names the form uses."""
    schema = description["parameters_schema"]
    return [
        {
            "name": name,
            "type": prop["type"],
            "required": name in schema["required"],
            "default": prop.get("default"),
            "allowed_values": prop.get("enum"),
            "sensitive": prop.get("writeOnly", False),
            "display_name": prop.get("title", name.replace("_", " ")),
            "description": prop.get("description"),
            "help_url": prop.get("x-help-url"),
            "page": prop.get("x-page"),
        }
        for name, prop in schema["properties"].items()
    ]


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
