"""Job reading tools: get-job and list-jobs."""

from __future__ import annotations

from typing import Annotated

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field

from iac_mcp.genesys.errors import GenesysError
from iac_mcp.genesys.ids import MAX_ID_LENGTH
from iac_mcp.genesys.models import HistoryStatus, JobSortField, SortOrder
from iac_mcp.logic.jobs import JobList, JobView, job_view, render_job, render_job_list
from iac_mcp.server.errors import describe_error
from iac_mcp.server.tools.common import JOB_ID, READ_ONLY, server_state, structured

# --- get-job ----------------------------------------------------------------------------

GET_JOB = """\
Read a job's status and outcome: whether it is finished and succeeded, the error, the \
Terraform plan or apply summary (resources, counts, outputs, errors), the output and rollback \
output cut to a readable size. With wait_seconds it waits (up to 55 s) until the job finishes, \
sending progress at each status change. If it is still running, poll again after \
poll_after_seconds. Report the outcome to the user in plain words."""

_PROGRESS_ORDER = ("created", "queued", "running")


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
        delay = min(delay * 1.5, 5.0)
    view = job_view(job, secrets=state.secrets, sensitive_names=await state.specs.sensitive_names(state.client, job.accelerator_id))
    return structured(view, render_job(view))


# --- list-jobs --------------------------------------------------------------------------

LIST_JOBS = """\
List recent IaC jobs (newest first by default), filtered by status, accelerator or submitter: \
use it to review activity, find a job id, or check whether an interrupted submission created a \
job. Each entry has the status in plain words and any error code. Next: get-job for details."""


async def list_jobs(
    ctx: Context,
    status: Annotated[
        HistoryStatus | None,
        Field(description="Only jobs in this status."),
    ] = None,
    accelerator_id: Annotated[
        str | None, Field(description="Only jobs of this accelerator.", max_length=MAX_ID_LENGTH)
    ] = None,
    submitted_by: Annotated[str | None, Field(description="Only jobs submitted by this user id.", max_length=128)] = None,
    sort_by: Annotated[
        JobSortField, Field(description="Sort field.")
    ] = "dateSubmitted",
    sort_order: Annotated[SortOrder, Field(description="Sort direction.")] = "desc",
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


def register(server: MCPServer) -> None:
    server.add_tool(get_job, name="get-job", title="Get a job", description=GET_JOB, annotations=READ_ONLY)
    server.add_tool(list_jobs, name="list-jobs", title="List jobs", description=LIST_JOBS, annotations=READ_ONLY)

