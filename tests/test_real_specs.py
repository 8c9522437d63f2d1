"""Every real accelerator Genesys publishes goes through describe → generated parameters → dry run.

The specs are read from ../shared/accelerators at test time (never copied into the repo); the
server runs as a subprocess with `serve --sandbox --catalog DIR`, exactly as a user would run it.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from servers import CLEAN_ENV, text_of

from iac_mcp.demo import example_arguments

pytestmark = pytest.mark.anyio

SHADOWED = "public-api-get-conversationEnd-data-action-module.json"
"""Shares its id with get-user-queues; the later file wins, so it is checked on its own."""


def _server(catalog: Path) -> StdioServerParameters:
    args = ["-m", "iac_mcp", "serve", "--sandbox", "--job-duration", "0", "--catalog", str(catalog), "--log-level", "WARNING"]
    return StdioServerParameters(command=sys.executable, args=args, env=CLEAN_ENV)


async def _dry_run_every_spec(catalog: Path, files: list[Path]) -> int:
    ids = {json.loads(f.read_text())["id"] for f in files}
    async with Client(_server(catalog), mode="auto") as client:
        for accelerator_id in sorted(ids):
            described = await client.call_tool("describe-accelerator", {"accelerator_id": accelerator_id})
            assert not described.is_error, text_of(described)
            schema = described.structured_content["parameters_schema"]
            assert schema["properties"], accelerator_id
            parameters = example_arguments(schema)
            submitted = await client.call_tool("submit-job", {"accelerator_id": accelerator_id, "parameters": parameters})
            assert not submitted.is_error, (accelerator_id, text_of(submitted))
            job = await client.call_tool("get-job", {"job_id": submitted.structured_content["job"]["id"], "wait_seconds": 5})
            view = job.structured_content
            assert view["status"] == "Complete" and view["succeeded"], (accelerator_id, text_of(job))
            assert view["terraform"]["kind"] == "plan"
    return len(ids)


async def test_every_real_spec_dry_runs_to_complete(real_specs_dir: Path) -> None:
    files = sorted(real_specs_dir.glob("*.json"))
    assert len(files) >= 60
    count = await _dry_run_every_spec(real_specs_dir, files)
    assert count == len(files) - 1, "only the documented duplicate id collapses"


async def test_the_shadowed_older_format_spec_on_its_own(real_specs_dir: Path, tmp_path: Path) -> None:
    shutil.copy(real_specs_dir / SHADOWED, tmp_path / SHADOWED)
    assert await _dry_run_every_spec(tmp_path, [tmp_path / SHADOWED]) == 1
