"""The real Genesys client reads the job history in every shape the sandbox can answer, and
refuses, naming its keys, an answer it does not recognise (never "no jobs")."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from conftest import Sandbox

from iac_mcp.genesys.client import IacClient
from iac_mcp.genesys.config import GenesysConfig
from iac_mcp.genesys.errors import UnexpectedResponseError
from iac_mcp.genesys.models import AcceleratorInput, JobParameter
from iac_mcp.sandbox.settings import HISTORY_SHAPES

pytestmark = pytest.mark.anyio

SIMPLE_QUEUE = "3b1c9d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
FAILURE_DEMO = "0d5f5e2a-7c1b-4e58-9a3f-5a1d0b0e7f11"


@asynccontextmanager
async def client_for(box: Sandbox) -> AsyncIterator[IacClient]:
    settings = box.state.settings
    async with IacClient(GenesysConfig.for_sandbox(box.url, settings.client_id, settings.client_secret)) as client:
        yield client


def body(accelerator_id: str, dry_run: bool, **values: str) -> AcceleratorInput:
    return AcceleratorInput(
        accelerator_id=accelerator_id, dry_run=dry_run, parameters=[JobParameter(name=k, value=v) for k, v in values.items()]
    )


@pytest.mark.parametrize("shape", HISTORY_SHAPES)
async def test_list_jobs_reads_every_history_shape(start_sandbox: Callable[..., Sandbox], shape: str) -> None:
    box = start_sandbox(history_shape=shape)
    async with client_for(box) as client:
        assert await client.list_jobs(max_results=10) == []
        queue = await client.create_job(body(SIMPLE_QUEUE, True, queue_name="Q"))
        failed = await client.create_job(body(FAILURE_DEMO, False, queue_name="Q", outcome="failed"))
        latest = await client.list_jobs()
        every = await client.list_jobs(max_results=10, include_errors=True)
        of_queue = await client.list_jobs(max_results=10, accelerator_id=SIMPLE_QUEUE)
        failures = await client.list_jobs(max_results=10, status="Failed", include_errors=True)
        nobody = await client.list_jobs(max_results=10, submitted_by="00000000-0000-4000-8000-000000000000")
    assert [j.id for j in latest] == [failed.id]
    assert [j.id for j in every] == ([failed.id, queue.id] if shape != "job" else [failed.id])
    assert [j.id for j in of_queue] == [queue.id] and nobody == []
    [failure] = failures
    assert failure.id == failed.id and failure.error_info is not None and failure.error_info.code == "job.failed"
    assert all(j.submitted_by is not None and j.submitted_by.id == box.state.user_id for j in every)


async def test_an_unrecognised_history_object_is_an_error_naming_its_keys() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t" * 40, "token_type": "bearer", "expires_in": 3600})
        return httpx.Response(200, json={"items": [{"id": "j1"}], "count": 1})

    config = GenesysConfig.for_sandbox("http://genesys.invalid", "id", "secret")
    async with IacClient(config, transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(UnexpectedResponseError) as raised:
            await client.list_jobs(max_results=5)
    named = f"{raised.value} {raised.value.__cause__}"
    assert "count" in named and "items" in named
