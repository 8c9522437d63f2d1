"""Resources: specifications and jobs as masked JSON, and proper errors, in both eras."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from servers import ERAS, connected, sandbox, text_of

from iac_mcp.genesys.models import AcceleratorSpecification, ErrorInfo, InfrastructureascodeJob
from iac_mcp.logic.jobs import masked_job
from iac_mcp.logic.redaction import MASK
from iac_mcp.server.resources import masked_spec

pytestmark = pytest.mark.anyio

SECRET_ID = "5ec7e700-0000-4000-8000-000000000001"
DEFAULT_SECRET = "default-Secret-7f3a"
SUBMITTED_SECRET = "submitted-Secret-91c2"


def secret_spec() -> dict[str, Any]:
    """An accelerator whose sensitive parameter has a default, unlike any built-in one."""
    return {
        "id": SECRET_ID,
        "name": "Signed Webhook Test",
        "description": "A webhook with a signing key, for masking tests.",
        "origin": "community",
        "type": "module",
        "presentation": [
            {
                "title": "Page 1",
                "schema": {
                    "type": "object",
                    "properties": [
                        {"webhook_name": {"type": "string", "description": "Name of the webhook"}},
                        {"signing_key": {"type": "string", "sensitive": "true", "default": DEFAULT_SECRET}},
                        {"retries": {"type": "integer", "default": "3"}},
                    ],
                    "required": ["webhook_name"],
                },
            }
        ],
        "results": {"entities": [{"type": "dataAction", "description": "Webhook data action"}]},
    }


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def secret_catalog(tmp_path: Path) -> Path:
    (tmp_path / "secret.json").write_text(json.dumps(secret_spec()), encoding="utf-8")
    return tmp_path


async def test_templates_are_listed_as_json(era: str) -> None:
    async with connected(sandbox(), era) as client:
        templates = {t.uri_template: t for t in (await client.list_resource_templates()).resource_templates}
    assert set(templates) == {"iac://accelerators/{accelerator_id}", "iac://jobs/{job_id}", "iac://jobs/{job_id}/output"}
    output = templates.pop("iac://jobs/{job_id}/output")
    assert output.mime_type == "text/plain" and output.description and output.title
    assert all(t.mime_type == "application/json" and t.description and t.title for t in templates.values())


async def test_an_accelerator_reads_as_its_specification_with_sensitive_defaults_masked(era: str, secret_catalog: Path) -> None:
    async with connected(sandbox(catalog_dirs=[secret_catalog]), era) as client:
        result = await client.read_resource(f"iac://accelerators/{SECRET_ID}")
    [content] = result.contents
    assert content.mime_type == "application/json" and content.uri == f"iac://accelerators/{SECRET_ID}"
    spec = json.loads(content.text)
    assert spec["id"] == SECRET_ID and spec["name"] == "Signed Webhook Test"
    properties = {k: v for p in spec["presentation"][0]["schema"]["properties"] for k, v in p.items()}
    assert properties["signing_key"]["default"] == MASK
    assert properties["retries"]["default"] == "3"
    assert DEFAULT_SECRET not in content.text


async def test_a_job_reads_with_details_and_masked_output(era: str, secret_catalog: Path) -> None:
    app = sandbox(catalog_dirs=[secret_catalog])
    async with connected(app, era) as client:
        submitted = await client.call_tool(
            "submit-job",
            {
                "accelerator_id": SECRET_ID,
                "parameters": {"webhook_name": f"hook {SUBMITTED_SECRET} sandbox:fail", "signing_key": SUBMITTED_SECRET},
            },
        )
        assert not submitted.is_error, text_of(submitted)
        job_id = submitted.structured_content["job"]["id"]
        result = await client.read_resource(f"iac://jobs/{job_id}")
    [content] = result.contents
    job = json.loads(content.text)
    assert content.mime_type == "application/json"
    assert job["id"] == job_id and job["acceleratorId"] == SECRET_ID and job["status"] == "Failed"
    assert job["errorInfo"]["code"] and job["errorInfo"]["message"]
    assert "hook" in job["results"] and MASK in job["results"]
    assert SUBMITTED_SECRET not in content.text


def test_masking_reuses_the_job_masking_of_get_job() -> None:
    job = InfrastructureascodeJob(
        id="j1",
        accelerator_id="a1",
        results='  + signing_key = "never-told-value"\n  + name = "\x1b[1mhook known-secret\x1b[0m"',
        rollback_results="signing_key: also-never-told",
        error_info=ErrorInfo(code="job.failed", message="bad key known-secret"),
    )
    wire = masked_job(job, secrets=["known-secret"], sensitive_names=frozenset({"signing_key"})).to_wire()
    text = json.dumps(wire)
    assert "never-told" not in text and "known-secret" not in text and "\x1b" not in text
    assert wire["errorInfo"] == {"code": "job.failed", "message": f"bad key {MASK}"}
    spec = AcceleratorSpecification.model_validate(secret_spec())
    shown = json.dumps(masked_spec(spec.model_copy(update={"description": "mentions known-secret"})))
    assert DEFAULT_SECRET not in shown and MASK in shown
    # Catalogue text is not masked with values submitted into jobs: used there, one caller's
    # secret would mark where it occurs in text another caller reads.
    assert "mentions known-secret" in shown


async def test_unknown_ids_are_resource_not_found(era: str) -> None:
    app = sandbox()
    async with connected(app, era) as client:
        for uri in ("iac://accelerators/00000000-0000-4000-8000-000000000000", "iac://jobs/no-such-job"):
            with pytest.raises(MCPError) as caught:
                await client.read_resource(uri)
            assert caught.value.error.code == -32602, uri
            assert "not found" in caught.value.error.message and "Next:" in caught.value.error.message
    assert app.state.sandbox.requests["get_accelerator"] == 1 and app.state.sandbox.requests["get_job"] == 1


@pytest.mark.parametrize(
    "uri", ["iac://accelerators/a%20b", "iac://jobs/x%3Fy%3D1", "iac://accelerators/..", "iac://jobs/%2Fetc"]
)
async def test_invalid_ids_fail_without_any_upstream_request(era: str, uri: str) -> None:
    app = sandbox()
    async with connected(app, era) as client:
        with pytest.raises(MCPError) as caught:
            await client.read_resource(uri)
    assert caught.value.error.code == -32602
    assert sum(app.state.sandbox.requests.values()) == 0
