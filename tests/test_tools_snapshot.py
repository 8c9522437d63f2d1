"""The `tools/list` payload an agent sees, pinned: unreviewed drift fails.

A changed name, description, schema or annotation changes what every assistant does with
this server. After a deliberate change, regenerate and review the diff:
`IAC_MCP_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_tools_snapshot.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from servers import connected, sandbox

from iac_mcp.settings import Mode

pytestmark = pytest.mark.anyio

SNAPSHOTS = Path(__file__).parent / "snapshots"


async def _tools_payload(mode: str) -> list[dict[str, Any]]:
    async with connected(sandbox(), "legacy", mode=mode) as client:
        tools = (await client.list_tools()).tools
    return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in sorted(tools, key=lambda t: t.name)]


@pytest.mark.parametrize("mode", list(Mode))
async def test_tools_list_matches_the_reviewed_snapshot(mode: str) -> None:
    path = SNAPSHOTS / f"tools-list-{mode}.json"
    payload = await _tools_payload(mode)
    rendered = json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("IAC_MCP_UPDATE_SNAPSHOTS") == "1":
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"no snapshot {path.name}: run with IAC_MCP_UPDATE_SNAPSHOTS=1 and review it"
    assert rendered == path.read_text(encoding="utf-8"), (
        f"tools/list drifted from {path.name}; if the change is intended, regenerate with "
        "IAC_MCP_UPDATE_SNAPSHOTS=1 and review the diff"
    )
