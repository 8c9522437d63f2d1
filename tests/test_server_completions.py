"""Completions: ids by prefix or name words, job ids from history; bounded and cached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client
from mcp.types import Completion, PromptReference, ResourceTemplateReference
from servers import ERAS, connected, sandbox, text_of

from iac_mcp.genesys.errors import TransportError
from iac_mcp.server.lookup import TtlValue

pytestmark = pytest.mark.anyio

SIMPLE_QUEUE = "3b1c9d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
"""The built-in "Simple Queue Module"."""

DEPLOY = PromptReference(type="ref/prompt", name="deploy-accelerator")
TROUBLESHOOT = PromptReference(type="ref/prompt", name="troubleshoot-job")
REVIEW = PromptReference(type="ref/prompt", name="review-recent-jobs")
ACCELERATOR_TEMPLATE = ResourceTemplateReference(type="ref/resource", uri="iac://accelerators/{accelerator_id}")
JOB_TEMPLATE = ResourceTemplateReference(type="ref/resource", uri="iac://jobs/{job_id}")


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    return request.param


def write_specs(directory: Path, specs: dict[str, str]) -> Path:
    """One minimal spec file per id → name."""
    for accelerator_id, name in specs.items():
        spec = {"id": accelerator_id, "name": name, "description": "Generated.", "origin": "community", "type": "module"}
        (directory / f"{accelerator_id}.json").write_text(json.dumps(spec), encoding="utf-8")
    return directory


async def complete(client: Client, ref: PromptReference | ResourceTemplateReference, name: str, value: str) -> Completion:
    completion = (await client.complete(ref, {"name": name, "value": value})).completion
    assert len(completion.values) <= 100
    return completion


async def test_accelerator_ids_complete_by_id_prefix(era: str) -> None:
    async with connected(sandbox(), era) as client:
        for ref in (DEPLOY, REVIEW, ACCELERATOR_TEMPLATE):
            completion = await complete(client, ref, "accelerator_id", SIMPLE_QUEUE[:6].upper())
            assert completion.values == [SIMPLE_QUEUE]
            assert completion.total == 1 and completion.has_more is False


async def test_accelerator_ids_complete_by_words_of_the_name(era: str) -> None:
    async with connected(sandbox(), era) as client:
        assert (await complete(client, DEPLOY, "accelerator_id", "simple que")).values == [SIMPLE_QUEUE]
        assert (await complete(client, ACCELERATOR_TEMPLATE, "accelerator_id", "QUEUE")).values[:1] == [SIMPLE_QUEUE]
        nothing = await complete(client, DEPLOY, "accelerator_id", "no such words")
    assert nothing.values == [] and nothing.total == 0 and nothing.has_more is False


async def test_id_prefix_matches_come_before_name_matches(era: str, tmp_path: Path) -> None:
    catalog = write_specs(tmp_path, {"queue-tools-1": "Zebra", "acc-2": "Queue Zebra"})
    async with connected(sandbox(catalog_dirs=[catalog]), era) as client:
        completion = await complete(client, DEPLOY, "accelerator_id", "queue")
    assert completion.values[0] == "queue-tools-1"
    assert set(completion.values[1:]) == {"acc-2", SIMPLE_QUEUE}
    assert completion.values[1:] == ["acc-2", SIMPLE_QUEUE]  # name matches sorted by name: "Queue Zebra" < "Simple Queue Module"


async def test_a_big_catalogue_is_bounded_and_fetched_once(era: str, tmp_path: Path) -> None:
    catalog = write_specs(tmp_path, {f"gen-{n:04d}": f"Generated Widget {n}" for n in range(250)})
    app = sandbox(catalog_dirs=[catalog])
    async with connected(app, era) as client:
        everything = await complete(client, DEPLOY, "accelerator_id", "")
        widgets = await complete(client, ACCELERATOR_TEMPLATE, "accelerator_id", "widget")
        hundred = await complete(client, DEPLOY, "accelerator_id", "gen-00")
        for typed in ("g", "ge", "gen", "gen-", "gen-1", "gen-12", "gen-123"):
            last = await complete(client, DEPLOY, "accelerator_id", typed)
    builtin = everything.total - 250
    assert builtin >= 12
    assert len(everything.values) == 100 and everything.has_more is True
    assert (len(widgets.values), widgets.total, widgets.has_more) == (100, 250, True)
    assert (len(hundred.values), hundred.total, hundred.has_more) == (100, 100, False)
    assert last.values == ["gen-0123"]
    pages = -(-everything.total // 100)
    assert app.state.sandbox.requests["list_accelerators"] == pages == 3


async def test_job_ids_complete_from_recent_history(era: str) -> None:
    app = sandbox()
    async with connected(app, era) as client:
        job_ids = []
        for name in ("first", "second"):
            submitted = await client.call_tool(
                "submit-job", {"accelerator_id": SIMPLE_QUEUE, "parameters": {"queue_name": f"Billing {name}"}}
            )
            assert not submitted.is_error, text_of(submitted)
            job_ids.append(submitted.structured_content["job"]["id"])
        recent = await complete(client, TROUBLESHOOT, "job_id", "")
        by_prefix = await complete(client, JOB_TEMPLATE, "job_id", job_ids[0][:8])
        by_accelerator = await complete(client, JOB_TEMPLATE, "job_id", SIMPLE_QUEUE[:8])
    assert recent.values == job_ids[::-1] and recent.total == 2 and recent.has_more is False
    assert by_prefix.values[0] == job_ids[0]
    assert set(by_accelerator.values) == set(job_ids)
    assert app.state.sandbox.requests["list_jobs"] == 1


async def test_statuses_and_unknown_arguments(era: str) -> None:
    async with connected(sandbox(), era) as client:
        status = await complete(client, REVIEW, "status", "f")
        unknown_argument = await complete(client, DEPLOY, "goal", "a queue")
        other_template = await complete(
            client, ResourceTemplateReference(type="ref/resource", uri="iac://other/{accelerator_id}"), "accelerator_id", ""
        )
    assert status.values == ["Failed"]
    assert unknown_argument.values == [] and other_template.values == []


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_cached_values_refresh_after_the_ttl_and_survive_failures() -> None:
    clock = FakeClock()
    value: TtlValue[int] = TtlValue(ttl=300, empty=0, retry_after=30, clock=clock)
    calls: list[float] = []
    failing = False

    async def fetch() -> int:
        calls.append(clock.now)
        if failing:
            raise TransportError("down", maybe_processed=False)
        return len(calls)

    assert [await value.get(fetch) for _ in range(5)] == [1] * 5
    clock.now = 299
    assert await value.get(fetch) == 1 and len(calls) == 1
    clock.now = 300
    assert await value.get(fetch) == 2
    failing = True
    clock.now = 600
    assert await value.get(fetch) == 2 and await value.get(fetch) == 2
    assert len(calls) == 3
    clock.now = 630
    failing = False
    assert await value.get(fetch) == 4
