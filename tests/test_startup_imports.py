"""Each command imports what it uses (issue 16, lean by design).

`serve` against Genesys builds its server without the sandbox and adds no uvicorn or
starlette module to those mcp itself imports (mcp imports both); `serve --sandbox` does
load the sandbox; `sandbox`, `--version` and `audit` never load mcp or the MCP server.
Each probe is a fresh interpreter: the test process has imported everything long ago.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from servers import CLEAN_ENV

SERVE_PROBE = """
import json, sys
from mcp.server.mcpserver import MCPServer
mcp_own = sorted(sys.modules)
MCPServer.run = lambda self, *args, **kwargs: None  # everything `serve` does, up to serving
from iac_mcp.startup import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "mcp": mcp_own, "loaded": sorted(sys.modules)}), file=sys.stderr)
"""

COMMAND_PROBE = """
import json, sys
from iac_mcp.startup import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "loaded": sorted(sys.modules)}), file=sys.stderr)
"""
"""Both probes report on stderr's last line: stdout is the command's (`--version`, `--help`)."""

GENESYS = {
    "GENESYSCLOUD_API_REGION": "http://127.0.0.1:9",  # never reached: the server is built, not run
    "GENESYSCLOUD_OAUTHCLIENT_ID": "probe-client",
    "GENESYSCLOUD_OAUTHCLIENT_SECRET": "probe-secret",
}


def probe(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a probe with `args` as the command line; its report: exit code and modules loaded."""
    command = [sys.executable, "-c", code, *args]
    done = subprocess.run(command, check=False, env=CLEAN_ENV | (env or {}), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    return report


def loaded(report: dict[str, Any], package: str) -> list[str]:
    return [m for m in report["loaded"] if m == package or m.startswith(package + ".")]


def test_serve_against_genesys_builds_the_server_without_the_sandbox_or_web_server_modules_of_its_own() -> None:
    report = probe(SERVE_PROBE, "serve", env=GENESYS)
    assert loaded(report, "iac_mcp.server.app"), "the probe builds the server"
    assert not loaded(report, "iac_mcp.sandbox")
    assert not loaded(report, "iac_mcp.transports.http")
    mcp_own = set(report["mcp"])
    added = [m for m in loaded(report, "uvicorn") + loaded(report, "starlette") if m not in mcp_own]
    assert not added, f"serve adds to mcp's own uvicorn and starlette modules: {added}"


def test_serve_with_the_embedded_sandbox_loads_it() -> None:
    report = probe(SERVE_PROBE, "serve", "--sandbox")
    assert loaded(report, "iac_mcp.sandbox.app")


@pytest.mark.parametrize("args", [("--version",), ("sandbox", "--help")], ids=["version", "sandbox"])
def test_commands_without_a_server_load_neither_mcp_nor_the_ledger(args: tuple[str, ...]) -> None:
    report = probe(COMMAND_PROBE, *args)
    assert not loaded(report, "mcp")
    assert not loaded(report, "iac_mcp.server")
    assert not loaded(report, "sqlalchemy")


def test_audit_reads_the_ledger_without_loading_mcp() -> None:
    report = probe(COMMAND_PROBE, "audit")
    assert loaded(report, "iac_mcp.ledger")
    assert not loaded(report, "mcp")
    assert not loaded(report, "iac_mcp.server")


def test_serve_starts_serving_before_it_loads_sqlalchemy() -> None:
    """Over stdio the ledger opens while the server answers: `tools/list` does not wait for it."""
    report = probe(SERVE_PROBE, "serve", env=GENESYS)
    assert loaded(report, "iac_mcp.server.app"), "the probe builds the server"
    assert not loaded(report, "sqlalchemy")
    assert not loaded(report, "iac_mcp.ledger.store")


LEDGER_PROBE = """
import json, sys
import anyio
from iac_mcp.ledger import open_at

async def main() -> None:
    book = await open_at(sys.argv[1])
    await book.aclose()

anyio.run(main)
print(json.dumps({"code": 0, "loaded": sorted(sys.modules)}), file=sys.stderr)
"""


def test_a_sqlite_ledger_loads_sqlalchemy_core_only(tmp_path: Path) -> None:
    report = probe(LEDGER_PROBE, f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    assert loaded(report, "iac_mcp.ledger.store") and loaded(report, "sqlalchemy.dialects.sqlite")
    assert not loaded(report, "sqlalchemy.orm"), "the asyncio extension (the whole ORM) is PostgreSQL's"
    assert not loaded(report, "sqlalchemy.dialects.postgresql")
