"""submit-job: validate, check the plan, ask the user, submit once, never twice.

The checks run in resolvers (mcp 2.3's `Resolve`), before the tool body: a real run is
only put to the user once its parameters are valid and a successful dry run of exactly
this input stands behind it. The question itself travels as `Elicit`, which works in
both protocol eras and on stateless HTTP; clients without elicitation are guarded by the
plan token alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from mcp.server.mcpserver import (
    AcceptedElicitation,
    CancelledElicitation,
    Context,
    Elicit,
    ElicitationResult,
    MCPServer,
    Resolve,
)
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field, WithJsonSchema

from iac_mcp.genesys.errors import GenesysError, ServerError, TransportError, UnexpectedResponseError
from iac_mcp.genesys.models import AcceleratorInput, AcceleratorSpecification, InfrastructureascodeJob, same
from iac_mcp.logic.forms import ParameterForm, form_from_spec, validate_parameters, wire_parameters
from iac_mcp.logic.jobs import JobView, job_view, render_job
from iac_mcp.logic.plan_token import PlanTokenError, issue_plan_token, verify_plan_token
from iac_mcp.logic.redaction import MASK
from iac_mcp.logic.terraform import parse_terraform_output
from iac_mcp.server.errors import describe_error, describe_problems
from iac_mcp.server.state import Mode, ServerState
from iac_mcp.server.tools.common import ACCELERATOR_ID, server_state, structured

PLAN_TOKEN_TTL = 3600.0
"""A plan is good for an hour: long enough to review, short enough to stay current."""

RECONCILE_SKEW = timedelta(seconds=30)
"""Clock difference tolerated when looking for a job that an ambiguous submission created."""

PARAMETERS_SCHEMA = {
    "type": "object",
    "description": "Parameter name → value; see describe-accelerator for names and types.",
    "additionalProperties": {"type": ["string", "number", "integer", "boolean"]},
    "maxProperties": 200,
    "default": {},
}
"""Advertised to clients; the values are checked by `validate_parameters`, not by pydantic,
whose errors quote the offending input: a secret of the wrong type would come back."""

Parameters = Annotated[Any, WithJsonSchema(PARAMETERS_SCHEMA)]


class SubmitResult(BaseModel):
    """A submitted job (or why none was submitted) and what to do next."""

    submitted: bool = Field(description="False when the user declined or cancelled: nothing was sent.")
    job: JobView | None = None
    parameters: dict[str, str] = Field(description="What was (or would have been) submitted, defaults included; sensitive values masked.")
    defaults_applied: list[str] = Field(description="Optional parameters that took their default.")
    plan_token: str | None = Field(
        default=None,
        description="For a dry run: pass it to the real run (same accelerator and parameters) once the plan is Complete.",
    )
    note: str | None = Field(default=None, description="Anything unusual about the submission.")


@dataclass(frozen=True)
class Submission:
    """A checked submission: valid parameters and, for a real run, its successful plan."""

    spec: AcceleratorSpecification
    form: ParameterForm
    wire: dict[str, str]
    dry_run: bool
    plan: InfrastructureascodeJob | None

    def masked_parameters(self) -> dict[str, str]:
        return {k: MASK if k in self.form.sensitive_names else v for k, v in self.wire.items()}


class Consent(BaseModel):
    """The one question put to the user before a real run (flat, as elicitation requires)."""

    confirm: bool = Field(title="Apply these changes to the Genesys Cloud org now?")


class ConsentNotAsked(BaseModel):
    """Stands in for an answer when no question is put: dry runs, clients that cannot elicit."""

    reason: str


# --- Checks (resolvers) ------------------------------------------------------------------


async def _check_plan(state: ServerState, accelerator_id: str, wire: dict[str, str], plan_token: str | None) -> InfrastructureascodeJob:
    """The successful dry run of exactly this input, or a refusal saying what to do."""
    if not plan_token:
        raise ToolError(
            "A real run needs the plan_token of a successful dry run. Next: call submit-job with the same "
            "accelerator and parameters and dry_run=true, wait for it with get-job, show the user the plan, "
            "and after their consent pass its plan_token here."
        )
    try:
        claims = verify_plan_token(state.signing_key, plan_token, accelerator_id=accelerator_id, parameters=wire, now=time.time())
    except PlanTokenError as error:
        raise ToolError(f"The plan_token was refused ({error.reason}): {error}") from error
    try:
        plan = await state.client.get_job(claims.dry_run_job_id, details=True)
    except GenesysError as error:
        raise ToolError(describe_error(f"check the dry run {claims.dry_run_job_id}", error, subject="job")) from error
    if not plan.is_terminal:
        raise ToolError(
            f"The plan {plan.id} has not finished (status {plan.status}). Next: get-job with job_id={plan.id} "
            "and wait_seconds, then try again once it is Complete."
        )
    if not same(plan.status, "Complete") or not plan.dry_run:
        raise ToolError(
            f"The plan {plan.id} did not succeed (status {plan.status}), so it cannot back a real run. "
            "Next: read it with get-job, fix the cause and run a new dry run."
        )
    return plan


async def check_submission(
    ctx: Context,
    accelerator_id: str,
    parameters: Any,
    dry_run: bool,
    plan_token: str | None,
) -> Submission:
    """Everything that must hold before anything is sent or anyone is asked."""
    state = server_state(ctx)
    if not isinstance(parameters, dict) or len(parameters) > PARAMETERS_SCHEMA["maxProperties"]:
        raise ToolError(
            "`parameters` must be an object of at most 200 parameter names to strings, numbers or booleans, "
            "e.g. {\"queue_name\": \"VIP\"}. Next: see describe-accelerator for the names and types."
        )
    if not dry_run and state.mode != "apply":
        raise ToolError(
            f"This server runs in {state.mode} mode: real runs are refused. Next: submit with dry_run=true, or ask "
            "the operator to restart the server with --mode apply."
        )
    try:
        spec = await state.specs.get(state.client, accelerator_id)
    except GenesysError as error:
        raise ToolError(describe_error(f"read accelerator {accelerator_id} to check the parameters", error)) from error
    form = form_from_spec(spec)
    wire, problems = validate_parameters(form, parameters)
    if problems:
        raise ToolError(describe_problems(accelerator_id, problems))
    plan = None if dry_run else await _check_plan(state, accelerator_id, wire, plan_token)
    return Submission(spec=spec, form=form, wire=wire, dry_run=dry_run, plan=plan)


def consent_question(submission: Submission) -> str:
    """What the user sees: the accelerator, the non-sensitive parameters and the plan's summary."""
    spec = submission.spec
    lines = [f"Apply {spec.name} ({spec.id}) to your Genesys Cloud org? This makes real changes."]
    lines.append("Parameters:")
    lines.extend(f"  {name} = {value}" for name, value in submission.masked_parameters().items())
    if submission.plan is not None:
        summary = parse_terraform_output(submission.plan.results or "")
        lines.append(
            f"Plan {submission.plan.id}: {summary.to_add} to add, {summary.to_change} to change, {summary.to_destroy} to destroy."
        )
        lines.extend(f"  {r.action}: {r.address}" for r in summary.resources[:20])
    return "\n".join(lines)


async def ask_consent(
    ctx: Context, submission: Annotated[Submission, Resolve(check_submission)]
) -> Elicit[Consent] | ConsentNotAsked:
    if submission.dry_run:
        return ConsentNotAsked(reason="a dry run changes nothing")
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.elicitation is None:
        return ConsentNotAsked(reason="the client cannot ask the user; the plan token guards the run")
    return Elicit(consent_question(submission), Consent)


def _consented(consent: ElicitationResult[Consent]) -> bool:
    """Go ahead when no question was needed, or the user accepted and ticked the box."""
    if not isinstance(consent, AcceptedElicitation):
        return False
    answer: Consent | ConsentNotAsked = consent.data
    return isinstance(answer, ConsentNotAsked) or answer.confirm


# --- Submitting once ----------------------------------------------------------------------


async def _reconcile(state: ServerState, body: AcceleratorInput, started: datetime, error: GenesysError) -> InfrastructureascodeJob:
    """After an ambiguous submission, find the job it created instead of submitting again."""
    try:
        history = await state.client.list_jobs(
            accelerator_id=body.accelerator_id,
            submitted_by=state.submitter_id,
            sort_by="dateSubmitted",
            sort_order="desc",
            max_results=25,
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


async def _send(state: ServerState, submission: Submission) -> tuple[InfrastructureascodeJob, str | None]:
    """POST the job once; on an ambiguous failure, look for it instead of resending."""
    body = AcceleratorInput(
        accelerator_id=submission.spec.id, dry_run=submission.dry_run, parameters=wire_parameters(submission.wire)
    )
    started = datetime.now(timezone.utc)
    try:
        job = await state.client.create_job(body)
    except (TransportError, ServerError, UnexpectedResponseError) as error:
        if isinstance(error, TransportError) and not error.maybe_processed:
            raise ToolError(describe_error(f"submit the job for accelerator {body.accelerator_id}", error)) from error
        job = await _reconcile(state, body, started, error)
        return job, "The answer was lost or unreadable, so the job was found in the history instead of being resent."
    except GenesysError as error:
        raise ToolError(describe_error(f"submit the job for accelerator {body.accelerator_id}", error)) from error
    state.claim_job(job.id)
    if job.submitted_by and job.submitted_by.id:
        state.submitter_id = job.submitted_by.id
    return job, None


SUBMIT_JOB = """\
Run an accelerator as a Genesys Cloud IaC job. With dry_run=true (the default) Genesys only \
plans: nothing changes, and the result carries a plan_token. A real run (dry_run=false) changes \
the production contact center: it requires the plan_token of a successful dry run of the same \
accelerator with the same parameters, and the user's explicit consent after seeing the plan \
(the client may also ask them to confirm). `parameters` maps parameter names (from \
describe-accelerator) to strings, numbers or booleans; every problem is reported at once and \
nothing is sent until all are fixed. Next: get-job with the job id and wait_seconds."""

SUBMIT_JOB_DRY_RUN_ONLY = """\
Plan an accelerator as a Genesys Cloud IaC dry-run job: nothing changes (this server runs in \
dry-run-only mode, so real runs are refused). `parameters` maps parameter names (from \
describe-accelerator) to strings, numbers or booleans; every problem is reported at once and \
nothing is sent until all are fixed. Next: get-job with the job id and wait_seconds."""

DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True)
PLAN_ONLY = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)


async def submit_job(
    ctx: Context,
    submission: Annotated[Submission, Resolve(check_submission)],
    consent: Annotated[ElicitationResult[Consent], Resolve(ask_consent)],
    accelerator_id: ACCELERATOR_ID,
    parameters: Parameters = {},  # noqa: B006 - pydantic copies defaults
    dry_run: Annotated[bool, Field(description="True (default): plan only. False: really apply.")] = True,
    plan_token: Annotated[
        str | None, Field(description="Required when dry_run=false: from the dry run of the same input.", max_length=2000)
    ] = None,
) -> Annotated[CallToolResult, SubmitResult]:
    state = server_state(ctx)
    masked = submission.masked_parameters()
    defaults = [p.name for p in submission.form.parameters if p.name in submission.wire and p.name not in parameters]
    if not _consented(consent):
        verdict = "cancelled" if isinstance(consent, CancelledElicitation) else "declined"
        result = SubmitResult(
            submitted=False,
            parameters=masked,
            defaults_applied=defaults,
            note=f"The user {verdict} the real run: nothing was submitted.",
        )
        return structured(result, f"Nothing was submitted: the user {verdict} the real run of {accelerator_id}. "
                          "Ask them what to change; do not resubmit without their consent.")

    state.secrets.add(submission.wire[name] for name in submission.form.sensitive_names if name in submission.wire)
    job, note = await _send(state, submission)
    token = (
        issue_plan_token(
            state.signing_key,
            dry_run_job_id=job.id,
            accelerator_id=accelerator_id,
            parameters=submission.wire,
            ttl_seconds=PLAN_TOKEN_TTL,
            now=time.time(),
        )
        if dry_run
        else None
    )
    view = job_view(job, secrets=state.secrets, sensitive_names=submission.form.sensitive_names)
    result = SubmitResult(
        submitted=True, job=view, parameters=masked, defaults_applied=defaults, plan_token=token, note=note
    )
    text = render_job(view)
    if defaults:
        text += "\nDefaults applied: " + ", ".join(defaults)
    if note:
        text += "\nNote: " + note
    if token:
        text += f"\nplan_token (for the real run, once the plan is Complete): {token}"
    return structured(result, text)


def register(server: MCPServer, mode: Mode) -> None:
    """submit-job as the mode allows: absent when read-only, plan-only when dry-run-only."""
    if mode == "read-only":
        return
    server.add_tool(
        submit_job,
        name="submit-job",
        title="Submit a job (dry run or real run)" if mode == "apply" else "Submit a dry-run job",
        description=SUBMIT_JOB if mode == "apply" else SUBMIT_JOB_DRY_RUN_ONLY,
        annotations=DESTRUCTIVE if mode == "apply" else PLAN_ONLY,
    )
