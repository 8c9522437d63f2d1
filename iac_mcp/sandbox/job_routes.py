"""`POST /jobs`, `GET /jobs/{id}` and the job history `GET /jobs`, each seeing only the token's org."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from iac_mcp.sandbox.catalog import CatalogEntry
from iac_mcp.sandbox.checks import (
    ApiError,
    authorize,
    bad_request,
    bool_query,
    choice_query,
    int_query,
    read_body,
    require_json,
)
from iac_mcp.sandbox.jobs import Job
from iac_mcp.sandbox.spec import text
from iac_mcp.sandbox.state import SandboxState
from iac_mcp.sandbox.validation import Problem, check
from iac_mcp.sandbox.vocabulary import ADD_JOB, HISTORY_STATUS_FILTERS, JOB_SORT_FIELDS, SORT_ORDERS, VIEW_JOBS, same


@dataclass(frozen=True)
class JobRequest:
    """The body of `POST /jobs` (an `AcceleratorInput`)."""

    accelerator_id: str
    dry_run: bool
    parameters: list[tuple[str, str]]


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def parse_job_request(body: bytes) -> JobRequest:
    """The body, or a 400 naming every bad field (the typed API coerces scalars to strings)."""
    try:
        payload = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("The request body is not valid JSON.", ("body", "invalid.json")) from None
    if not isinstance(payload, dict):
        raise bad_request("The request body must be a JSON object (AcceleratorInput).", ("body", "invalid.value"))
    bad: list[tuple[str, str]] = []
    accelerator_id = payload.get("acceleratorId")
    if accelerator_id is None:
        bad.append(("acceleratorId", "missing"))
    elif not isinstance(accelerator_id, str):
        bad.append(("acceleratorId", "invalid.value"))
    dry_run = payload.get("dryRun", False)
    if not isinstance(dry_run, bool):
        bad.append(("dryRun", "invalid.value"))
    raw_parameters = payload.get("parameters") or []
    if not isinstance(raw_parameters, list):
        bad.append(("parameters", "invalid.value"))
        raw_parameters = []
    parameters: list[tuple[str, str]] = []
    for index, raw_item in enumerate(raw_parameters):
        item = raw_item if isinstance(raw_item, dict) else {}
        for key in ("name", "value"):
            if not _scalar(item.get(key)):
                bad.append((f"parameters.{index}.{key}", "missing" if item.get(key) is None else "invalid.value"))
        if _scalar(item.get("name")) and _scalar(item.get("value")):
            parameters.append((str(text(item["name"])), str(text(item["value"]))))
    if bad:
        raise bad_request("Invalid job request: " + ", ".join(f"{field} ({code})" for field, code in bad) + ".", *bad)
    return JobRequest(accelerator_id=str(accelerator_id), dry_run=dry_run, parameters=parameters)


def job_values(entry: CatalogEntry, request: JobRequest) -> tuple[dict[str, str], list[Problem]]:
    """The parameters with defaults applied, and every problem (duplicates included)."""
    given: dict[str, str] = {}
    duplicates = []
    for name, value in request.parameters:
        if name in given:
            duplicates.append(Problem(name, "duplicate", f"{name!r} is given more than once."))
        given[name] = value
    values, problems = check(entry.form, given)
    return values, duplicates + problems


def _job_json(state: SandboxState, job: Job, *, results: bool, errors: bool) -> dict[str, object]:
    settings = state.settings
    return job.wire(state.now(), settings.job_duration, results=results, errors=errors, colour=settings.ansi_colour)


async def create_job(request: Request) -> Response:
    caller = authorize(request, ADD_JOB)
    state = caller.state
    require_json(request)
    job_request = parse_job_request(await read_body(request))
    entry = state.catalog.get(job_request.accelerator_id)
    if entry is None:
        raise bad_request(f"Accelerator {job_request.accelerator_id[:100]} does not exist.", ("acceleratorId", "not.found"))
    values, problems = job_values(entry, job_request)
    if problems and state.settings.validate_at == "post":
        message = f"Invalid parameters for accelerator {entry.spec.id}: " + " ".join(p.message for p in problems)
        raise bad_request(message, *[(p.name, p.code) for p in problems])
    job = state.create_job(entry, job_request.dry_run, values, problems, grant=caller.grant)
    body = _job_json(state, job, results=False, errors=False)
    body["status"] = "Created"
    return JSONResponse(body)


async def get_job(request: Request) -> Response:
    caller = authorize(request, VIEW_JOBS, all_of=True)
    state = caller.state
    details = bool_query(request, "details")
    job = state.jobs.get(request.path_params["jobId"])
    if job is None or job.org != caller.org.name:  # another org's job does not exist for this token
        raise ApiError(404, "resource.not.found", "Job {id} not found.", params={"id": request.path_params["jobId"][:100]})
    return JSONResponse(_job_json(state, job, results=details, errors=details))


def _history_body(shape: str, jobs: list[dict[str, object]]) -> object:
    """The history in the configured shape; `job` answers the first match alone (`{}` for none)."""
    if shape == "array":
        return jobs
    if shape == "job":
        return jobs[0] if jobs else {}
    return {"entities": jobs}


async def list_jobs(request: Request) -> Response:
    caller = authorize(request, VIEW_JOBS)
    state = caller.state
    max_results = int_query(request, "maxResults", 1, 1)
    include_errors = bool_query(request, "includeErrors")
    sort_by = str(choice_query(request, "sortBy", JOB_SORT_FIELDS, "dateSubmitted"))
    descending = choice_query(request, "sortOrder", SORT_ORDERS, "desc") == "desc"
    status = choice_query(request, "status", HISTORY_STATUS_FILTERS)
    query = request.query_params
    now, duration = state.now(), state.settings.job_duration
    keys: dict[str, Callable[[Job], Any]] = {
        "id": lambda j: j.id,
        "dateSubmitted": lambda j: j.submitted_at,
        "submittedBy": lambda j: j.submitted_by,
        "acceleratorId": lambda j: j.entry.spec.id,
        "status": lambda j: j.status_at(now, duration),
    }
    jobs = [
        j
        for j in state.org_jobs(caller.org)
        if (not query.get("acceleratorId") or same(query["acceleratorId"], j.entry.spec.id))
        and (not query.get("submittedBy") or same(query["submittedBy"], j.submitted_by))
        and (status is None or j.status_at(now, duration) == status)
    ]
    jobs.sort(key=lambda j: (keys[sort_by](j), j.sequence), reverse=descending)
    found = [_job_json(state, j, results=False, errors=include_errors) for j in jobs[:max_results]]
    return JSONResponse(_history_body(state.settings.history_shape, found))
