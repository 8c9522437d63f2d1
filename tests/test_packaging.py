"""The wheel carries everything the server reads at run time: prompts, catalogue, instructions."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from servers import CLEAN_ENV

ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import anyio, iac_mcp, sys
from functools import partial
from mcp import Client
from iac_mcp.server.app import build_server
from iac_mcp.settings import Settings
from iac_mcp.upstream import ledger_at, open_upstream

assert iac_mcp.__file__.startswith(sys.argv[1]), iac_mcp.__file__

async def main():
    settings = Settings(sandbox=True)
    server = build_server(open_upstream(settings), settings, ledger=partial(ledger_at, "sqlite+aiosqlite:///" + sys.argv[2]))
    async with Client(server) as client:
        prompts = sorted(p.name for p in (await client.list_prompts()).prompts)
        listing = await client.call_tool("list-accelerators", {})
        print(prompts, listing.structured_content["total"], bool(client.instructions))

anyio.run(main)
"""


@pytest.mark.slow
def test_the_installed_wheel_serves_prompts_catalogue_and_instructions(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path / "dist")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next((tmp_path / "dist").glob("iac_mcp-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {"iac_mcp/prompts/deploy-accelerator.md", "iac_mcp/server/instructions.md"} <= set(names)
    assert sum(n.startswith("iac_mcp/sandbox/catalog/") for n in names) >= 12
    target = tmp_path / "installed"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    run = subprocess.run(
        [sys.executable, "-c", CHECK, str(target), str(tmp_path / "ledger.sqlite3")],
        env=dict(CLEAN_ENV, PYTHONPATH=str(target)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split("]")[0] == "['deploy-accelerator', 'review-recent-jobs', 'troubleshoot-job'"
    total, instructions = run.stdout.split("]")[1].split()
    assert int(total) >= 12 and instructions == "True"
