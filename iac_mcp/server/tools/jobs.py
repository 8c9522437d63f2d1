"""Job tools: submit-job, get-job and list-jobs."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from iac_mcp.genesys.errors import GenesysError, ServerError, TransportError
from iac_mcp.genesys.models import AcceleratorInput, InfrastructureascodeJob, same
from iac_mcp.logic.forms import ParameterForm, form_from_spec, validate_parameters, wire_parameters
from iac_mcp.logic.jobs import JobList, JobView, job_view, render_job, render_job_list
from iac_mcp.logic.plan_token import PlanTokenError, issue_plan_token, verify_plan_token
from iac_mcp.logic.redaction import MASK
from iac_mcp.server.errors import describe_error, describe_problems
from iac_mcp.server.state import ServerState
from iac_mcp.genesys.ids import MAX_ID_LENGTH
from iac_mcp.server.tools.common import ACCELERATOR_ID, JOB_ID, READ_ONLY, server_state, structured

PLAN_TOKEN_TTL = 3600.0
"""A plan is good for an hour: long enough to review, short enough to stay current."""

RECONCILE_SKEW = timedelta(seconds=30)
"""Clock difference tolerated when looking for a job that an ambiguous submission created."""

ParameterValue = str | int | float | bool


class SubmitResult(BaseModel):
    """A submitted job and what to do with it."""

    job: JobView
    parameters: dict[str, str] = Field(description="What was submitted, defaults included; sensitive values masked.")
    defaults_applied: list[str] = Field(description="Optional parameters that took their default.")
    plan_token: str | None = Field(
        default=None,
        description="For a dry run: pass it to the real run (same accelerator and parameters) once the plan is Complete.",
    )
    note: str | None = Field(default=None, description="Anything unusual about the submission.")


# --- submit-job ----------------------------------------------------------------------

SUBMIT_JOB = """\
Run an accelerator as a Genesys Cloud IaC job. With dry_run=true (the default) Genesys only \
plans: nothing changes, and the result carries a plan_token. A real run (dry_run=false) changes \
the production contact center: it requires the plan_token of a successful dry run of the same \
accelerator with the same parameters, and the user's explicit consent after seeing the plan. \
`parameters` maps parameter names (from describe-accelerator) to strings, numbers or booleans; \
every problem is reported at once and nothing is sent until all are fixed. Next: get-job with \
the returned job id and wait_seconds to follow it."""

SUBMIT_JOB_DRY_RUN_ONLY = """\
Plan an accelerator as a Genesys Cloud IaC dry-run job: nothing changes (this server runs in \
dry-run-only mode, so real runs are refused). `parameters` maps parameter names (from \
describe-accelerator) to strings, numbers or booleans; every problem is reported at once and \
nothing is sent until all are fixed. Next: get-job with the returned job id and wait_seconds."""

DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True)
PLAN_ONLY = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)


async def _form(state: ServerState, accelerator_id: str) -> ParameterForm:
    try:
        return form_from_spec(await state.specs.get(state.client, accelerator_id))
    except GenesysError as error:
        raise ToolError(describe_error(f"read accelerator {accelerator_id} to check the parameters", error)) from error


async def _check_plan(state: ServerState, accelerator_id: str, wire: dict[str, str], plan_token: str | None) -> None:
    """Refuse a real run unless a successful dry run of exactly this input stands behind it."""
    if not plan_token:
        raise ToolError(
            "A real run needs the plan_token of a successful dry run. Next: call submit-job with the same "
            "accelerator and parameters and dry_run=true, wait for it with get-job, show the user the plan, "
            "and after their consent pass its plan_token here."
        )
    try:
        claims = verify_plan_token(state.signing_key, plan_token, accelerator_id=accelerator_id, parameters=wire, now=time.time())
    except PlanTokenError as error:
        raise ToolError(f"The plan_token was refused: {error}") from error
    try:
        plan = await state.client.get_job(claims.dry_run_job_id)
    except GenesysError as error:
        raise ToolError(describe_error(f"check the dry run {claims.dry_run_job_id}", error, subject="job")) from error
    if not plan.is_terminal:
        raise ToolError(
            f"The plan {plan.id} has not finished (status {plan.status}). Next: get-job with job_id={plan.id} "
            "and wait_seconds, then try again once it is Complete."
        )
    if not same(plan.status, "Complete"):
        raise ToolError(
            f"The plan {plan.id} did not succeed (status {plan.status}), so it cannot back a real run. "
            "Next: read it with get-job, fix the cause and run a new dry run."
        )


async def _reconcile(
    state: ServerState, body: AcceleratorInput, started: datetime, error: GenesysError
) -> InfrastructureascodeJob:
    """After an ambiguous submission, find the job it created instead of submitting again."""
    try:
        history = await state.client.list_jobs(
            accelerator_id=body.accelerator_id, sort_by="dateSubmitted", sort_order="desc", max_results=25
        )
    except GenesysError:
        history = []
    for job in reversed(history):
        try:
            submitted = datetime.fromisoformat((job.date_submitted or "").replace("Z", "+00:00"))
        except ValueError:
            continue
        if submitted >= started - RECONCILE_SKEW and job.dry_run == body.dry_run and state.claim_job(job.id):
            return job
    raise ToolError(
        f"The submission of accelerator {body.accelerator_id} may or may not have reached Genesys "
        f"({error}), and no matching job appeared in the history. It was NOT resent, to avoid running it twice. "
        f"Next: in a minute call list-jobs with accelerator_id={body.accelerator_id}; submit again only if no job "
        "from this attempt shows up."
    )


async def submit_job(
    ctx: Context,
    accelerator_id: ACCELERATOR_ID,
    parameters: Annotated[
        dict[str, ParameterValue],
        Field(description="Parameter name → value; see describe-accelerator for names and types.", max_length=200),
    ] = {},  # noqa: B006 - pydantic copies defaults
    dry_run: Annotated[bool, Field(description="True (default): plan only. False: really apply.")] = True,
    plan_token: Annotated[
        str | None, Field(description="Required when dry_run=false: from the dry run of the same input.", max_length=2000)
    ] = None,
) -> Annotated[CallToolResult, SubmitResult]:
    state = server_state(ctx)
    if not dry_run and state.mode != "apply":
        raise ToolError(
            "This server runs in dry-run-only mode: real runs are refused. Next: submit with dry_run=true, or ask "
            "the operator to restart the server with --mode apply."
        )
    form = await _form(state, accelerator_id)
    wire, problems = validate_parameters(form, parameters)
    if problems:
        raise ToolError(describe_problems(accelerator_id, problems))
    if not dry_run:
        await _check_plan(state, accelerator_id, wire, plan_token)

    state.secrets.add(wire[name] for name in form.sensitive_names if name in wire)
    body = AcceleratorInput(accelerator_id=accelerator_id, dry_run=dry_run, parameters=wire_parameters(wire))
    started = datetime.now(timezone.utc)
    note = None
    try:
        job = await state.client.create_job(body)
        state.claim_job(job.id)
    except (TransportError, ServerError) as error:
        if isinstance(error, TransportError) and not error.maybe_processed:
            raise ToolError(describe_error(f"submit the job for accelerator {accelerator_id}", error)) from error
        job = await _reconcile(state, body, started, error)
        note = "The connection failed after sending, so the job was found in the history instead of being resent."
    except GenesysError as error:
        raise ToolError(describe_error(f"submit the job for accelerator {accelerator_id}", error)) from error

    result = SubmitResult(
        job=job_view(job, secrets=state.secrets, sensitive_names=form.sensitive_names),
        parameters={k: MASK if k in form.sensitive_names else v for k, v in wire.items()},
        defaults_applied=[p.name for p in form.parameters if p.name in wire and p.name not in parameters],
        plan_token=(
            issue_plan_token(
                state.signing_key,
                dry_run_job_id=job.id,
                accelerator_id=accelerator_id,
                parameters=wire,
                ttl_seconds=PLAN_TOKEN_TTL,
                now=time.time(),
            )
            if dry_run
            else None
        ),
        note=note,
    )
    text = render_job(result.job)
    if result.defaults_applied:
        text += "\nDefaults applied: " + ", ".join(result.defaults_applied)
    if note:
        text += "\nNote: " + note
    if result.plan_token:
        text += f"\nplan_token (for the real run, once the plan is Complete): {result.plan_token}"
    return structured(result, text)


# --- get-job ----------------------------------------------------------------------------

GET_JOB = """\
Read a job's status and outcome: whether it is finished and succeeded, the error, the \
Terraform plan or apply summary (resources, counts, outputs, errors), the output and rollback \
output cut to a readable size. With wait_seconds it waits (up to 55 s) until the job finishes, \
sending progress at each status change. If it is still running, poll again after \
poll_after_seconds. Report the outcome to the user in plain words."""

_PROGRESS_ORDER = ("created", "queued", "running")


async def _sensitive_names(state: ServerState, job: InfrastructureascodeJob) -> frozenset[str]:
    if not job.accelerator_id:
        return frozenset()
    try:
        return form_from_spec(await state.specs.get(state.client, job.accelerator_id)).sensitive_names
    except GenesysError:
        return frozenset()


async def get_job(
    ctx: Context,
    job_id: JOB_ID,
    details: Annotated[bool, Field(description="Include Terraform output and error details.")] = True,
    wait_seconds: Annotated[
        float, Field(ge=0, le=55, description="Wait up to this long for the job to finish (0 = just read it).")
    ] = 0,
) -> Annotated[CallToolResult, JobView]:
    state = server_state(ctx)
    deadline = anyio.current_time() + wait_seconds
    delay = 0.5
    last_status: str | None = None
    while True:
        try:
            job = await state.client.get_job(job_id, details=details)
        except GenesysError as error:
            raise ToolError(describe_error(f"read job {job_id}", error, subject="job")) from error
        if job.status != last_status:
            last_status = job.status
            key = (job.status or "").casefold()
            step = _PROGRESS_ORDER.index(key) + 1 if key in _PROGRESS_ORDER else 4
            await ctx.report_progress(step, 4, f"Job {job_id}: {job.status}")
        remaining = deadline - anyio.current_time()
        if job.is_terminal or remaining <= 0:
            break
        await anyio.sleep(min(delay, remaining))
        delay = min(delay * 2, 5.0)
    view = job_view(job, secrets=state.secrets, sensitive_names=await _sensitive_names(state, job))
    return structured(view, render_job(view))


# --- list-jobs --------------------------------------------------------------------------

LIST_JOBS = """\
List recent IaC jobs (newest first by default), filtered by status, accelerator or submitter: \
use it to review activity, find a job id, or check whether an interrupted submission created a \
job. Each entry has the status in plain words and any error code. Next: get-job for details."""


async def list_jobs(
    ctx: Context,
    status: Annotated[
        Literal["Created", "Queued", "Running", "Complete", "Failed", "Incomplete"] | None,
        Field(description="Only jobs in this status."),
    ] = None,
    accelerator_id: Annotated[
        str | None, Field(description="Only jobs of this accelerator.", max_length=MAX_ID_LENGTH)
    ] = None,
    submitted_by: Annotated[str | None, Field(description="Only jobs submitted by this user id.", max_length=128)] = None,
    sort_by: Annotated[
        Literal["dateSubmitted", "id", "submittedBy", "acceleratorId", "status"], Field(description="Sort field.")
    ] = "dateSubmitted",
    sort_order: Annotated[Literal["asc", "desc"], Field(description="Sort direction.")] = "desc",
    max_results: Annotated[int, Field(ge=1, le=100, description="How many jobs to return.")] = 10,
    include_errors: Annotated[bool, Field(description="Include each job's error code and message.")] = True,
) -> Annotated[CallToolResult, JobList]:
    state = server_state(ctx)
    try:
        jobs = await state.client.list_jobs(
            status=status,
            accelerator_id=accelerator_id,
            submitted_by=submitted_by,
            sort_by=sort_by,
            sort_order=sort_order,
            max_results=max_results,
            include_errors=include_errors,
        )
    except GenesysError as error:
        raise ToolError(describe_error("list jobs", error, subject="job")) from error
    views = [job_view(j, secrets=state.secrets, limit=1000) for j in jobs[:max_results]]
    return structured(JobList(jobs=views, count=len(views)), render_job_list(views))


def register(server: MCPServer, mode: str) -> None:
    if mode != "read-only":
        server.add_tool(
            submit_job,
            name="submit-job",
            title="Submit a job (dry run or real run)" if mode == "apply" else "Submit a dry-run job",
            description=SUBMIT_JOB if mode == "apply" else SUBMIT_JOB_DRY_RUN_ONLY,
            annotations=DESTRUCTIVE if mode == "apply" else PLAN_ONLY,
        )
    server.add_tool(get_job, name="get-job", title="Get a job", description=GET_JOB, annotations=READ_ONLY)
    server.add_tool(list_jobs, name="list-jobs", title="List jobs", description=LIST_JOBS, annotations=READ_ONLY)

