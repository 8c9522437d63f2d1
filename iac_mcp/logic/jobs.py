"""What an agent sees of jobs: status in plain words, bounded and masked output, next steps."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from iac_mcp.genesys.models import ErrorInfo, InfrastructureascodeJob, same
from iac_mcp.logic.redaction import mask_assignments, mask_values
from iac_mcp.logic.terraform import TerraformSummary, parse_terraform_output, strip_ansi
from iac_mcp.logic.text import bound_text
from iac_mcp.vocabulary import ToolName

RESULTS_LIMIT = 6000
"""The most characters of Terraform output a result may inline (head and tail kept)."""

OUTPUT_CHARS = 100
"""Characters of Terraform output get-job inlines unless asked for more: the parsed summary says
what happened, and the whole output is a resource (`OUTPUT_URI`)."""

_OUTCOMES = {
    "created": "submitted, waiting to be queued",
    "queued": "queued, waiting for a runner",
    "running": "running",
    "complete": "completed successfully",
    "failed": "failed",
    "incomplete": "ended incomplete: some resources may have been created, others not",
    "internalerror": "stopped by an internal error at Genesys",
    "rollbackcomplete": "failed, then rolled back: nothing was left behind",
    "rollbackfailed": "failed, and the rollback failed too: manual clean-up is needed",
}


class JobEntry(BaseModel):
    """One job in a listing: what it is and where it stands, no more (get-job says it in words)."""

    id: str
    accelerator_id: str | None = None
    dry_run: bool | None = None
    status: str | None = Field(default=None, description="Genesys' status.")
    submitted_at: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class JobView(JobEntry):
    """One job as an agent should report it."""

    outcome: str = Field(description="The status in plain words.")
    terminal: bool = Field(description="The status will not change any more.")
    succeeded: bool = Field(description="Completed successfully.")
    terraform: TerraformSummary | None = Field(default=None, description="Parsed from the output.")
    results: str | None = Field(default=None, description="Terraform output, cut to max_output_chars (a marker says what).")
    rollback_results: str | None = Field(default=None, description="The rollback's output, cut the same way.")
    output_uri: str | None = Field(default=None, description="Resource with the whole output.")
    poll_after_seconds: float | None = Field(default=None, description="Still running: ask again after this long.")
    next_step: str
    org: str | None = None


OUTPUT_URI = "iac://jobs/{job_id}/output"
"""The whole (masked) Terraform output of a job, as a resource: results link it, never inline it."""


MAX_WAIT_SECONDS = 40
"""How long get-job may wait: inside a call's 45 s default time limit, well before clients give up (about 60 s)."""


def outcome(status: str | None, *, dry_run: bool | None) -> str:
    key = (status or "").casefold()
    if key == "complete":
        return "plan completed successfully" if dry_run else "applied successfully"
    return _OUTCOMES.get(key, f"in an unrecognised state {status!r}, treated as still running")


def poll_after(job: InfrastructureascodeJob, *, now: datetime | None = None) -> float:
    """Seconds to wait before polling a running job: short at first, longer as it ages."""
    now = now or datetime.now(UTC)
    try:
        submitted = datetime.fromisoformat((job.date_submitted or "").replace("Z", "+00:00"))
        age = max(0.0, (now - submitted).total_seconds())
    except ValueError:
        age = 0.0
    return round(min(30.0, max(2.0, age / 4)), 1)


def next_step(job: InfrastructureascodeJob) -> str:
    status = (job.status or "").casefold()
    if not job.is_terminal:
        return f"Call {ToolName.GET_JOB} with job_id={job.id} (wait_seconds up to {MAX_WAIT_SECONDS}) until it is terminal."
    if status == "complete" and job.dry_run:
        return (
            f"Show the user the plan; with their explicit consent call {ToolName.SUBMIT_JOB} with the same "
            "input, dry_run=false and this plan's plan_token."
        )
    if status == "complete":
        return "Report what was created to the user, in plain words."
    if same(status, "RollbackFailed"):
        return "Tell the user manual clean-up is needed: show what the rollback reported and the error."
    return "Explain the error to the user; fix the cause (parameters, permissions, existing resources) and dry-run again."


def mask_job_text(text: str, *, secrets: Iterable[str], sensitive_names: Iterable[str]) -> str:
    """Job output with ANSI colour removed and sensitive values masked."""
    return mask_values(mask_assignments(strip_ansi(text), sensitive_names), secrets)


def masked_job(
    job: InfrastructureascodeJob, *, secrets: Iterable[str], sensitive_names: Iterable[str]
) -> InfrastructureascodeJob:
    """The job with its output, rollback output and error message masked (ANSI colour removed)."""
    secrets = tuple(secrets)
    names = tuple(sensitive_names)

    def clean(text: str | None) -> str | None:
        return None if text is None else mask_job_text(text, secrets=secrets, sensitive_names=names)

    error = job.error_info
    return job.model_copy(
        update={
            "results": clean(job.results),
            "rollback_results": clean(job.rollback_results),
            "error_info": ErrorInfo(code=error.code, message=clean(error.message)) if error else None,
        }
    )


WITHHELD = (
    "[withheld: the accelerator's specification could not be read, so sensitive values in this text "
    "could not be masked; read the job again in a minute]"
)
WITHHELD_FOREIGN = (
    "[withheld: this job was not submitted through iac-mcp and its accelerator has sensitive parameters "
    "whose values this server never saw, so they could not be masked wherever Terraform printed them; "
    "read this output in Genesys Cloud itself]"
)


def withheld(job: InfrastructureascodeJob, why: str = WITHHELD) -> InfrastructureascodeJob:
    """The job without its free text: what is shown when masking cannot be guaranteed."""

    def hide(text: str | None) -> str | None:
        return None if text is None else why

    error = job.error_info
    return job.model_copy(
        update={
            "results": hide(job.results),
            "rollback_results": hide(job.rollback_results),
            "error_info": ErrorInfo(code=error.code, message=hide(error.message)) if error else None,
        }
    )


def job_view(
    job: InfrastructureascodeJob,
    *,
    secrets: Iterable[str] = (),
    sensitive_names: Iterable[str] = (),
    limit: int = RESULTS_LIMIT,
    now: datetime | None = None,
) -> JobView:
    """The agent's view of a job; sensitive values are masked everywhere text appears."""
    job = masked_job(job, secrets=secrets, sensitive_names=sensitive_names)
    results, rollback = job.results, job.rollback_results
    return JobView(
        **_entry_fields(job),
        outcome=outcome(job.status, dry_run=job.dry_run),
        terminal=job.is_terminal,
        succeeded=same(job.status, "Complete"),
        terraform=parse_terraform_output(results) if results else None,
        results=_excerpt(results, limit),
        rollback_results=_excerpt(rollback, limit),
        output_uri=OUTPUT_URI.format(job_id=job.id) if results or rollback else None,
        poll_after_seconds=None if job.is_terminal else poll_after(job, now=now),
        next_step=next_step(job),
    )


def _excerpt(text: str | None, limit: int) -> str | None:
    """Output cut to `limit`; a withheld note whole, since it says where to read the output."""
    if text is None or text in (WITHHELD, WITHHELD_FOREIGN):
        return text
    return bound_text(text, limit)


def job_entry(job: InfrastructureascodeJob) -> JobEntry:
    """A listing's entry (the reader masked the job; colour codes go as in `job_view`); no output is listed."""
    return JobEntry(**_entry_fields(masked_job(job, secrets=(), sensitive_names=())))


def _entry_fields(job: InfrastructureascodeJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "accelerator_id": job.accelerator_id,
        "dry_run": job.dry_run,
        "status": job.status,
        "submitted_at": job.date_submitted,
        "error_code": job.error_info.code if job.error_info else None,
        "error_message": job.error_info.message if job.error_info else None,
    }


def job_output(job: InfrastructureascodeJob) -> str:
    """The whole Terraform output of a (masked) job, its rollback output after it."""
    parts = [job.results or ""]
    if job.rollback_results:
        parts.append("--- Rollback output ---\n" + job.rollback_results)
    return "\n".join(parts)


def render_job(view: JobView) -> str:
    kind = "Dry run" if view.dry_run else "Run"
    lines = [f"{kind} {view.id} of accelerator {view.accelerator_id}: {view.outcome} (status {view.status})."]
    if view.error_code or view.error_message:
        lines.append(f"Error {view.error_code or ''}: {view.error_message or ''}".strip())
    tf = view.terraform
    if tf and tf.complete:
        lines.append(f"Terraform: {tf.to_add} to add, {tf.to_change} to change, {tf.to_destroy} to destroy.")
    if tf and tf.resources:
        lines.append("Resources: " + ", ".join(f"{r.address} ({r.action})" for r in tf.resources[:20]))
    if tf and tf.outputs:
        lines.append("Outputs: " + ", ".join(f"{k} = {v}" for k, v in list(tf.outputs.items())[:20]))
    if tf and tf.errors:
        lines.extend(f"Terraform error: {e.summary}" for e in tf.errors[:5])
    if view.rollback_results is not None:
        lines.append("Rollback output:\n" + view.rollback_results)
    if view.poll_after_seconds is not None:
        lines.append(f"Still running: poll again in about {view.poll_after_seconds:g} s.")
    lines.append("Next: " + view.next_step)
    return "\n".join(lines)


class JobList(BaseModel):
    jobs: list[JobEntry]
    count: int
    next_step: str
    org: str | None = None


def job_list(jobs: list[JobEntry]) -> JobList:
    found = f"{ToolName.GET_JOB} with a job_id for its details and output." if jobs else "Try other filters."
    return JobList(jobs=jobs, count=len(jobs), next_step=found)


def render_job_list(jobs: list[JobEntry]) -> str:
    if not jobs:
        return "No jobs match these filters."
    lines = [f"{len(jobs)} job(s), newest first unless sorted otherwise:"]
    for j in jobs:
        kind = "dry run" if j.dry_run else "run"
        lines.append(
            f"- {j.id} {kind} of {j.accelerator_id} at {j.submitted_at or '?'}: {outcome(j.status, dry_run=j.dry_run)}"
            + (f" ({j.error_code})" if j.error_code else "")
        )
    lines.append(f"Next: {ToolName.GET_JOB} with a job_id for details.")
    return "\n".join(lines)
