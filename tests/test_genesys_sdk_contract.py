"""Contract test: Genesys' official Python SDK against the sandbox over real HTTP.

If the SDK can read what the sandbox sends, field for field, the sandbox speaks the
wire format the SDK was generated from. The SDK derives its login URL by replacing
`//api.` with `//login.` in the host; `http://127.0.0.1:PORT` has no `api.`, so login
and API share the sandbox's origin, which is exactly how the sandbox serves them.

Every test runs under each of the sandbox's three history shapes. Documented SDK
behaviour (asserted, not hidden): `get_infrastructureascode_jobs` declares a single
`InfrastructureascodeJob`, so only the `job` shape reads correctly; a listing
`{"entities": [...]}` or a bare array deserialises into a job whose every field is None.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.jobs import FAILURE_DEMO_ID
from iac_mcp.sandbox.serve import running_sandbox
from iac_mcp.sandbox.settings import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, HISTORY_SHAPES, SandboxSettings

sdk = pytest.importorskip("PureCloudPlatformClientV2")

API = "/api/v2/infrastructureascode"
SALESFORCE = "8e2f6a14-5b3c-4d7e-a1f9-2c6b8d0e4f37"
INBOUND_IVR = "c47a2b91-0d3e-4f68-9b15-7e2a4c6d8f01"


class Contract:
    """The SDK's view and the raw JSON of the same sandbox, with a shared token."""

    def __init__(self, url: str, history_shape: str) -> None:
        self.history_shape = history_shape
        self.api_client = sdk.ApiClient(host=url).get_client_credentials_token(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
        self.api = sdk.InfrastructureAsCodeApi(self.api_client)
        self.raw = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {self.api_client.access_token}"})
        self.compared = 0

    def mirrors(self, model: Any, raw: Any, path: str = "$") -> None:
        """Every field the SDK deserialised equals the JSON the sandbox sent; absent ones are None."""
        if hasattr(model, "swagger_types"):
            assert isinstance(raw, dict), path
            for attr, key in model.attribute_map.items():
                value = getattr(model, attr)
                if key in raw:
                    self.mirrors(value, raw[key], f"{path}.{key}")
                else:
                    assert value is None, f"{path}.{key} is {value!r} but was not sent"
        elif isinstance(model, list):
            assert isinstance(raw, list) and len(model) == len(raw), path
            for i, (m, r) in enumerate(zip(model, raw, strict=True)):
                self.mirrors(m, r, f"{path}[{i}]")
        elif isinstance(model, dict):
            assert isinstance(raw, dict) and model.keys() == raw.keys(), path
            for key in model:
                self.mirrors(model[key], raw[key], f"{path}.{key}")
        elif isinstance(model, datetime):
            assert model == datetime.fromisoformat(raw), path
            self.compared += 1
        else:
            assert model == raw, f"{path}: SDK has {model!r}, sandbox sent {raw!r}"
            self.compared += 1


@pytest.fixture(params=HISTORY_SHAPES)
def contract(request: pytest.FixtureRequest) -> Iterator[Contract]:
    with running_sandbox(app=create_app(SandboxSettings(job_duration=0, history_shape=request.param))) as url:
        contract = Contract(url, request.param)
        with contract.raw:
            yield contract


def test_sdk_authenticates_against_the_sandbox(contract: Contract) -> None:
    assert len(contract.api_client.access_token) >= 32


def test_sdk_lists_and_filters_accelerators(contract: Contract) -> None:
    page = contract.api.get_infrastructureascode_accelerators(page_size=5, page_number=2, sort_by="name", sort_order="desc")
    contract.mirrors(page, contract.raw.get(f"{API}/accelerators", params={"pageSize": 5, "pageNumber": 2, "sortBy": "name", "sortOrder": "desc"}).json())
    assert page.page_number == 2 and len(page.entities) == 5 and page.next_uri and page.previous_uri
    filtered = contract.api.get_infrastructureascode_accelerators(origin="partner", type="blueprint", tags="Routing", name="bullseye")
    assert [e.name for e in filtered.entities] == ["Skills-Based Routing with Bullseye"]
    contract.mirrors(filtered, contract.raw.get(filtered.self_uri).json())
    assert contract.compared > 60


@pytest.mark.parametrize("accelerator_id", [SALESFORCE, INBOUND_IVR, FAILURE_DEMO_ID])
def test_sdk_describes_accelerators_field_for_field(contract: Contract, accelerator_id: str) -> None:
    spec = contract.api.get_infrastructureascode_accelerator(accelerator_id, preferred_language="de")
    contract.mirrors(spec, contract.raw.get(f"{API}/accelerators/{accelerator_id}").json())
    first_page = spec.presentation[0].schema
    assert first_page.properties and all(isinstance(p, dict) and len(p) == 1 for p in first_page.properties)


def submit(contract: Contract, dry_run: bool) -> Any:
    body = sdk.AcceleratorInput()
    body.accelerator_id = SALESFORCE
    body.dry_run = dry_run
    parameters = []
    for name, value in (("salesforce_client_id", "3MVG9-key"), ("salesforce_client_secret", "sdk-secret-value")):
        parameter = sdk.AcceleratorParameter()
        parameter.name, parameter.value = name, value
        parameters.append(parameter)
    body.parameters = parameters
    return contract.api.post_infrastructureascode_jobs(body)


@pytest.mark.parametrize("dry_run", [True, False])
def test_sdk_submits_and_reads_jobs(contract: Contract, dry_run: bool) -> None:
    created = submit(contract, dry_run)
    assert created.status == "Created" and created.dry_run is dry_run and created.accelerator_id == SALESFORCE
    job = contract.api.get_infrastructureascode_job(created.id, details=True)
    raw = contract.raw.get(f"{API}/jobs/{created.id}", params={"details": "true"}).json()
    contract.mirrors(job, raw)
    assert job.status == "Complete" and job.submitted_by.id and job.results
    assert ("Apply complete!" in job.results) is not dry_run
    assert "sdk-secret-value" in job.results, "like a real module, the sandbox prints values in clear"


def test_sdk_reads_failed_jobs_with_error_info(contract: Contract) -> None:
    body = sdk.AcceleratorInput()
    body.accelerator_id, body.dry_run = FAILURE_DEMO_ID, False
    body.parameters = [sdk.AcceleratorParameter(), sdk.AcceleratorParameter()]
    body.parameters[0].name, body.parameters[0].value = "queue_name", "Q"
    body.parameters[1].name, body.parameters[1].value = "outcome", "rollback-failed"
    job = contract.api.get_infrastructureascode_job(contract.api.post_infrastructureascode_jobs(body).id, details=True)
    contract.mirrors(job, contract.raw.get(f"{API}/jobs/{job.id}", params={"details": "true"}).json())
    assert job.status == "RollbackFailed" and job.error_info.code == "job.failed" and job.rollback_results


def test_sdk_reads_the_history_only_in_the_job_shape(contract: Contract) -> None:
    empty = contract.api.get_infrastructureascode_jobs(max_results=5)
    assert all(getattr(empty, attr) is None for attr in empty.swagger_types), "an empty history reads as an empty job"
    submit(contract, True)
    latest = submit(contract, False)
    history = contract.api.get_infrastructureascode_jobs(max_results=5, include_errors=True, sort_order="desc")
    raw = contract.raw.get(f"{API}/jobs", params={"maxResults": 5, "includeErrors": "true"}).json()
    assert isinstance(history, sdk.InfrastructureascodeJob)
    if contract.history_shape == "job":
        contract.mirrors(history, raw)
        assert history.id == latest.id and contract.compared >= 7
    else:
        assert len(raw if contract.history_shape == "array" else raw["entities"]) == 2
        assert all(getattr(history, attr) is None for attr in history.swagger_types), "the SDK's misreading"


def test_sdk_reads_untidy_specs_as_the_typed_api_sends_them(tmp_path: Any) -> None:
    """JSON booleans and numbers in a spec file reach the SDK as the strings its model declares."""
    spec = {
        "id": "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b", "name": "Untidy", "type": "module", "origin": "community",
        "presentation": [{"title": "P", "schema": {"type": "object", "required": ["n"], "properties": [
            {"n": {"type": "integer", "default": 3, "sensitive": True}},
            {"b": {"type": "boolean", "default": False, "enum": [True, False]}},
        ]}}],
        "extraKey": {"x": 1},
    }  # fmt: skip
    (tmp_path / "untidy.json").write_text(json.dumps(spec))
    with running_sandbox(app=create_app(SandboxSettings(catalog_dirs=[tmp_path], builtin_catalog=False))) as url:
        contract = Contract(url, "listing")
        with contract.raw:
            read = contract.api.get_infrastructureascode_accelerator(spec["id"])
            contract.mirrors(read, contract.raw.get(f"{API}/accelerators/{spec['id']}").json())
    n, b = (next(iter(p.values())) for p in read.presentation[0].schema.properties)
    assert (n.default, n.sensitive, b.default, b.enum) == ("3", "true", "false", ["true", "false"])


def test_sdk_raises_api_exception_with_the_error_body(contract: Contract) -> None:
    with pytest.raises(sdk.rest.ApiException) as raised:
        contract.api.get_infrastructureascode_accelerator("00000000-0000-4000-8000-000000000000")
    assert raised.value.status == 404
    assert "resource.not.found" in raised.value.body
