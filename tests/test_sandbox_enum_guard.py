"""The client's enum check, guarded from outside its unit tests by the independent sandbox."""

from __future__ import annotations

import pytest
import servers

SIMPLE_QUEUE = "3b1c9d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("wrong_case", ["best", "Best"])
async def test_a_wrongly_cased_enum_value_never_reaches_or_passes_genesys(wrong_case: str) -> None:
    """Guards the client's enum check from outside its unit tests: if the client let `best` through
    for `BEST`, it would either send it (the request count shows it) or rewrite it (a job appears)."""
    app = servers.sandbox()
    async with servers.connected(app, "auto") as client:
        arguments = {"queue_name": "Support", "skill_evaluation_method": wrong_case}
        result = await client.call_tool("submit-job", {"accelerator_id": SIMPLE_QUEUE, "parameters": arguments})
    assert result.is_error and "skill_evaluation_method" in servers.text_of(result)
    assert app.state.sandbox.jobs_created == 0 and app.state.sandbox.requests["create_job"] == 0
