"""submit-job: validate, check the plan, ask the user, consume the plan, submit once.

The checks run in resolvers (mcp 2.3's `Resolve`), before the tool body: a real run is
only put to the user once its parameters are valid and an unused, successful dry run of
exactly this input stands behind it. The question travels as `Elicit`, which works in
both protocol eras and on stateless HTTP. When the client cannot be asked, a real run is
refused unless the operator chose the `plan-token` consent policy: consent fails closed.

A plan backs exactly one run: the ledger consumes it atomically at the moment the real
run is sent, across restarts and replicas. When the answer to that POST is lost the
plan stays "in doubt" and later calls reconcile instead of sending.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import (
    AcceptedElicitation,
    CancelledElicitation,
    Context,
    DeclinedElicitation,
    Elicit,
    ElicitationResult,
    Resolve,
)
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ToolAnnotations
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field, StrictBool, WithJsonSchema
from starlette.requests import Request

from iac_mcp.genesys.deadline import time_limit
from iac_mcp.genesys.errors import GenesysError
from iac_mcp.genesys.models import AcceleratorInput, AcceleratorSpecification, InfrastructureascodeJob, same
from iac_mcp.genesys.submission import Created, Found, SubmitOutcome, Unknown, reconcile, submit_once
from iac_mcp.ledger import Attempt, AuditRecord, PlanRecord
from iac_mcp.logic.approvals import Approver
from iac_mcp.logic.consent import PlanFacts, consent_question
from iac_mcp.logic.forms import ParameterForm, form_from_spec, validate_parameters, wire_parameters
from iac_mcp.logic.jobs import JobView, job_view, render_job
from iac_mcp.logic.orgs import org_named
from iac_mcp.logic.plan_token import PlanTokenError, canonical_parameters_hash, issue_plan_token, verify_plan_token
from iac_mcp.logic.redaction import MASK
from iac_mcp.logic.terraform import parse_terraform_output
from iac_mcp.server.approvals import APPROVAL_INPUT_KEY, ApprovalLinkNeeded, ApprovalRefused, Gate, PlanForApproval
from iac_mcp.server.errors import describe_problems
from iac_mcp.server.services import Org, Services, principal
from iac_mcp.server.tools.common import ACCELERATOR_ID, ORG, Tool, guarded, services, structured
from iac_mcp.settings import Approval, ConsentPolicy, Mode
from iac_mcp.vocabulary import ToolName

PLAN_TOKEN_TTL = 3600.0
"""A plan is good for an hour: long enough to review, short enough to stay current."""

MAX_PARAMETERS = 200

PARAMETERS_SCHEMA = {
    "type": "object",
    "description": f"Name → value, as {ToolName.DESCRIBE_ACCELERATOR}'s parameters_schema says.",
    "additionalProperties": {"type": ["string", "number", "boolean"]},
    "maxProperties": MAX_PARAMETERS,
    "default": {},
}
"""Advertised to clients; the values are checked by `validate_parameters`, not by pydantic,
whose errors quote the offending input: a secret of the wrong type would come back."""

Parameters = Annotated[Any, WithJsonSchema(PARAMETERS_SCHEMA)]

ACTION = "submit a job for accelerator {accelerator_id}"

SENDING_STALE = timedelta(minutes=10)
"""A plan still "sending" after this long belongs to a process that died mid-POST."""


APPROVAL_NEXT_STEP = f"Send this link to an approver; call {ToolName.SUBMIT_JOB} again with the same plan_token once approved."

URL_ELICITATION_IN_RESULTS = "2026-07-28"
"""From this protocol on, a URL elicitation travels in an input-required result, not a request."""


class ApprovalView(BaseModel):
    """Where a real run stands with the named people who must approve it."""

    approval_id: str
    link: str = Field(description="The approval page: sign in with Genesys there to approve or reject.")
    policy: str = Field(description="signed or four-eyes.")
    state: str = Field(description="pending, approved, rejected or expired.")
    approvers: list[str] = Field(description="Who approved so far (name and Genesys user id).")
    reason: str
    next_step: str | None = None


DECLINED_NEXT_STEP = "Ask the user what to change; do not resubmit without their consent."


class SubmitResult(BaseModel):
    """A submitted job (or why none was submitted) and what to do next."""

    submitted: bool = Field(description="False when the user declined or cancelled: nothing was sent.")
    job: Annotated[JobView | None, WithJsonSchema({"type": "object"})] = None
    """As get-job returns it: its schema is advertised there, not repeated here."""
    parameters: dict[str, str] = Field(
        description="What was (or would have been) submitted, defaults included; sensitive values masked."
    )
    defaults_applied: list[str] = Field(description="Optional parameters that took their default.")
    plan_token: str | None = Field(
        default=None,
        description="For a dry run: pass it to the real run (same accelerator and parameters) once the plan is Complete.",
    )
    consent: str = Field(
        description="How the run was consented to: not-needed (dry run), accepted, declined, cancelled, waived, "
        "approved (by the people named in approval), approval-pending (nothing sent: see approval.link)."
    )
    note: str | None = Field(default=None, description="Anything unusual about the submission.")
    approval: ApprovalView | None = Field(default=None, description="Under an approval policy: the approval and its link.")
    next_step: str | None = Field(default=None, description="When nothing was submitted: what to do (else the job's).")
    org: str | None = None


@dataclass(frozen=True)
class Submission:
    """A checked submission: valid parameters and, for a real run, its unused successful plan."""

    org: Org
    spec: AcceleratorSpecification
    form: ParameterForm
    wire: dict[str, str]
    dry_run: bool
    plan: InfrastructureascodeJob | None
    plan_record: PlanRecord | None
    """The ledger's record of this plan when a run it backed is in doubt."""
    plan_expires_at: float | None = None
    """When the plan token expires (epoch seconds): an approval of the plan dies with it."""

    def masked_parameters(self) -> dict[str, str]:
        """Sensitive parameters masked, and any other whose value is a sensitive one's."""
        secrets = set(self.sensitive_values())
        return {k: MASK if k in self.form.sensitive_names or v in secrets else v for k, v in self.wire.items()}

    def sensitive_values(self) -> tuple[str, ...]:
        return tuple(v for k, v in self.wire.items() if k in self.form.sensitive_names and v)

    @property
    def parameters_hash(self) -> str:
        return canonical_parameters_hash(self.wire)

    def body(self) -> AcceleratorInput:
        return AcceleratorInput(accelerator_id=self.spec.id, dry_run=self.dry_run, parameters=wire_parameters(self.wire))


class Consent(BaseModel):
    """The one question put to the user before a real run (flat, as elicitation requires)."""

    confirm: StrictBool = Field(title="Apply these changes to the Genesys Cloud org now?")
    """Only a JSON `true` counts: "yes", 1 or "on" are not consent."""


class ConsentNotAsked(BaseModel):
    """Stands in for an answer when no question is put: dry runs, the operator waived it, or
    the profile's approval policy decides (then `approval` says where it stands)."""

    verdict: str
    reason: str
    approval: ApprovalView | None = None
    approvers: tuple[Approver, ...] = ()


# --- Checks (resolvers) ------------------------------------------------------------------


async def _check_plan(
    state: Services, org: Org, accelerator_id: str, wire: dict[str, str], plan_token: str | None
) -> tuple[InfrastructureascodeJob, float]:
    """The successful dry run of exactly this input and when its token expires, or a refusal saying what to do."""
    if not plan_token:
        raise ToolError(
            f"A real run needs the plan_token of a successful dry run. Next: call {ToolName.SUBMIT_JOB} with the same "
            f"accelerator and parameters and dry_run=true, wait for it with {ToolName.GET_JOB}, show the user the plan, "
            "and after their consent pass its plan_token here."
        )
    try:
        claims = verify_plan_token(
            state.signing_key, plan_token, org=org.key, accelerator_id=accelerator_id, parameters=wire, now=time.time()
        )
    except PlanTokenError as error:
        raise ToolError(f"The plan_token was refused ({error.reason}): {error}") from error
    plan = await org.client.get_job(claims.dry_run_job_id, details=True)
    if not plan.is_terminal:
        raise ToolError(
            f"The plan {plan.id} has not finished (status {plan.status}). Next: {ToolName.GET_JOB} with job_id={plan.id} "
            "and wait_seconds, then try again once it is Complete."
        )
    if not same(plan.status, "Complete") or not plan.dry_run:
        raise ToolError(
            f"The plan {plan.id} did not succeed (status {plan.status}), so it cannot back a real run. "
            f"Next: read it with {ToolName.GET_JOB}, fix the cause and run a new dry run."
        )
    return plan, claims.expires_at


async def _unused(org: Org, plan: InfrastructureascodeJob) -> PlanRecord | None:
    """Refuse a plan that already backed a run; hand back its record when that run is in doubt."""
    record = await org.ledger.plan_record(org.key, plan.id)
    stale = record is not None and record.state == "sending" and datetime.now(UTC) - record.updated_at > SENDING_STALE
    if record is None or record.state == "in_doubt" or stale:
        return record  # a "sending" record this old outlived its process: its run is in doubt
    if record.job_id:
        status = "unknown"
        with contextlib.suppress(GenesysError):
            status = (await org.client.get_job(record.job_id)).status or status
        raise ToolError(
            f"The plan {plan.id} already backed the real run {record.job_id} (status {status}); a plan backs exactly "
            f"one run. Next: report that job ({ToolName.GET_JOB} job_id={record.job_id}); for another run, make a new "
            "dry run and get the user's consent for it."
        )
    settles = (record.updated_at + SENDING_STALE).strftime("%H:%M:%S UTC")
    raise ToolError(
        f"The plan {plan.id} is being used by another real run right now (sent at "
        f"{record.updated_at.strftime('%H:%M:%S UTC')}). Usually its answer comes within seconds; if the server "
        f"sending it went away, this plan is looked at again from {settles}, and its job found or reported unknown. "
        f"Next: in a few seconds call {ToolName.LIST_JOBS} with accelerator_id={plan.accelerator_id} and show the "
        "user what is there; do not resubmit."
    )


async def check_submission(
    ctx: Context,
    accelerator_id: str,
    parameters: Any,
    dry_run: bool,
    plan_token: str | None,
    org: str | None = None,
) -> Submission:
    """Everything that must hold before anything is sent or anyone is asked."""
    state = services(ctx)
    here = state.at(org)
    if not isinstance(parameters, dict) or len(parameters) > MAX_PARAMETERS:
        raise ToolError(
            f"`parameters` must be an object of at most {MAX_PARAMETERS} parameter names to strings, numbers or "
            f'booleans, e.g. {{"queue_name": "VIP"}}. Next: see {ToolName.DESCRIBE_ACCELERATOR} for the names and types.'
        )
    if not dry_run and here.mode is not Mode.APPLY:
        raise ToolError(
            f"The org {here.name} ({here.profile.label}) is in {here.mode} mode on this server: real runs there are "
            "refused. Next: submit with dry_run=true, or ask the operator to allow real runs in this profile "
            "(its mode, and the server's --mode apply)."
        )
    spec = await here.specs.get(here.client, accelerator_id)
    form = form_from_spec(spec)
    wire, problems = validate_parameters(form, parameters)
    if problems:
        raise ToolError(describe_problems(accelerator_id, problems))
    plan, expires_at = (None, None) if dry_run else await _check_plan(state, here, accelerator_id, wire, plan_token)
    record = await _unused(here, plan) if plan is not None else None
    return Submission(
        org=here, spec=spec, form=form, wire=wire, dry_run=dry_run, plan=plan, plan_record=record, plan_expires_at=expires_at
    )


checked_submission = guarded(check_submission, ACTION)
"""One resolver object: mcp memoizes resolvers by identity within a call, so submit-job and
ask_consent sharing it run the checks (and read the plan) once."""


def _plan_facts(submission: Submission) -> PlanFacts:
    assert submission.plan is not None
    summary = parse_terraform_output(submission.plan.results or "")
    return PlanFacts(
        job_id=submission.plan.id,
        to_add=summary.to_add,
        to_change=summary.to_change,
        to_destroy=summary.to_destroy,
        resources=[(r.action, r.address) for r in summary.resources],
    )


def question_for(submission: Submission) -> str:
    """What the user sees: the org, the plan's summary, the accelerator, the masked parameters."""
    return consent_question(
        org=org_named(submission.org.view),
        accelerator_name=submission.spec.name or submission.spec.id,
        accelerator_id=submission.spec.id,
        parameters=submission.masked_parameters(),
        plan=_plan_facts(submission),
    )


# --- Approvals by named people (the signed and four-eyes policies) -------------------------


def _plan_for_approval(submission: Submission) -> PlanForApproval:
    facts = _plan_facts(submission)
    assert submission.plan_expires_at is not None
    return PlanForApproval(
        plan_job_id=facts.job_id,
        accelerator_id=submission.spec.id,
        accelerator_name=submission.spec.name or submission.spec.id,
        parameters_hash=submission.parameters_hash,
        parameters=submission.masked_parameters(),
        to_add=facts.to_add,
        to_change=facts.to_change,
        to_destroy=facts.to_destroy,
        resources=facts.resources,
        expires_at=submission.plan_expires_at,
    )


def _request_base(ctx: Context) -> str | None:
    """The HTTP request's base URL (the pages are mounted beside /mcp); None over stdio."""
    request = ctx.request_context.request
    return str(request.base_url) if isinstance(request, Request) else None


def _view(gate: Gate, next_step: str | None = None) -> ApprovalView:
    return ApprovalView(
        approval_id=gate.request.approval_id,
        link=gate.link,
        policy=gate.request.policy,
        state=gate.status.state,
        approvers=[a.describe() for a in gate.approvers],
        reason=gate.status.reason,
        next_step=next_step,
    )


def _approved(gate: Gate) -> ConsentNotAsked:
    return ConsentNotAsked(verdict="approved", reason=gate.status.reason, approval=_view(gate), approvers=gate.approvers)


def _link_message(submission: Submission) -> str:
    return (
        f"A named person must approve this real run of {submission.spec.name or submission.spec.id} in "
        f"{org_named(submission.org.view)}: open the link, sign in with Genesys and approve it, "
        f"or send it to someone who can; then call {ToolName.SUBMIT_JOB} again with the same plan_token."
    )


async def _ask_approvers(ctx: Context, state: Services, submission: Submission) -> ConsentNotAsked:
    """The approval policy decides: only decisions in the ledger count, never a client's answer.

    Met: the run goes through. Rejected or expired: refused. Pending: the link goes to the
    client as a URL elicitation where it declares them (2026-07-28: an input-required result;
    2025-11-25: `elicit_url`), and always into the result, with the next step.
    """
    desk = state.desk
    org = desk.org(submission.org.key)
    assert org is not None  # the lifespan serves every org
    plan = _plan_for_approval(submission)
    base = _request_base(ctx)
    try:
        gate = await desk.gate(org, plan, principal=principal(), request_base=base)
    except ApprovalRefused as error:
        await state.ledger.audit(_audit_record(submission, consent="refused", detail=str(error)))
        raise ToolError(str(error)) from None
    if gate.status.met:
        return _approved(gate)
    standing = f"approval {gate.request.approval_id}: {gate.status.reason}"
    if gate.status.state in ("rejected", "expired"):
        await state.ledger.audit(_audit_record(submission, consent="refused", detail=standing))
        final = "the decision is final" if gate.status.state == "rejected" else "an approval never outlives its plan"
        raise ToolError(
            f"Real run refused: {gate.status.reason} ({final}). Nothing was sent. Next: run a new dry run of "
            f"{submission.spec.id}, show the user the plan, and ask for approval of the new plan."
        )
    elicitation = ctx.client_capabilities.elicitation if ctx.client_capabilities else None
    answered = APPROVAL_INPUT_KEY in (ctx.input_responses or {})
    if elicitation is not None and elicitation.url is not None and not answered:
        if ctx.protocol_version is not None and is_version_at_least(ctx.protocol_version, URL_ELICITATION_IN_RESULTS):
            raise ApprovalLinkNeeded(_link_message(submission), gate.link)
        if ctx.session.can_send_request:
            await ctx.elicit_url(_link_message(submission), gate.link, uuid.uuid4().hex)
            gate = await desk.gate(org, plan, principal=principal(), request_base=base)  # decided meanwhile?
            if gate.status.met:
                return _approved(gate)
    standing = f"approval {gate.request.approval_id}: {gate.status.reason}"
    await state.ledger.audit(_audit_record(submission, consent="refused", detail=standing))
    return ConsentNotAsked(verdict="approval-pending", reason=gate.status.reason, approval=_view(gate, APPROVAL_NEXT_STEP))


async def ask_consent(
    ctx: Context, submission: Annotated[Submission, Resolve(checked_submission)]
) -> Elicit[Consent] | ConsentNotAsked:
    state = services(ctx)
    if submission.dry_run:
        return ConsentNotAsked(verdict="not-needed", reason="a dry run changes nothing")
    if submission.plan_record is not None:
        return ConsentNotAsked(verdict="not-needed", reason="nothing will be sent: the earlier run is looked for")
    if submission.org.profile.approval is not Approval.CONSENT:  # an elicited "accept" is never enough there
        return await _ask_approvers(ctx, state, submission)
    if state.settings.consent is ConsentPolicy.PLAN_TOKEN:
        return ConsentNotAsked(verdict="waived", reason="the operator's consent policy is plan-token")
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.elicitation is None:
        await state.ledger.audit(_audit_record(submission, consent="refused", detail="the client cannot be asked"))
        raise ToolError(
            "Real run refused: this server asks the user to confirm every real run, and this client cannot be asked "
            "(it did not declare elicitation, or it speaks the 2025-11-25 protocol over stateless HTTP, where a "
            "question cannot reach it). Nothing was sent. Next: use a client that supports elicitation over the "
            "2026-07-28 protocol, run the server with --stateful for handshake-era clients, or have the operator set "
            "IAC_MCP_CONSENT=plan-token to let the plan token alone guard real runs."
        )
    return Elicit(question_for(submission), Consent)


asked_consent = guarded(ask_consent, ACTION)


def _verdict(consent: ElicitationResult[Consent]) -> str:
    """accepted only for an accepted answer whose box is a JSON true; else why not."""
    if isinstance(consent, CancelledElicitation):
        return "cancelled"
    if isinstance(consent, DeclinedElicitation) or not isinstance(consent, AcceptedElicitation):
        return "declined"
    answer: Consent | ConsentNotAsked = consent.data
    if isinstance(answer, ConsentNotAsked):
        return answer.verdict
    return "accepted" if answer.confirm is True else "declined"


def _not_asked(consent: ElicitationResult[Consent]) -> ConsentNotAsked | None:
    """What stood in for the question, when none was put (approvals among it)."""
    answer = consent.data if isinstance(consent, AcceptedElicitation) else None
    return answer if isinstance(answer, ConsentNotAsked) else None


# --- Submitting once ----------------------------------------------------------------------


def _audit_record(
    submission: Submission,
    *,
    consent: str,
    kind: Literal["attempt", "outcome"] = "attempt",
    detail: str | None = None,
    job_id: str | None = None,
    status: str | None = None,
    note: str | None = None,
    approvers: tuple[Approver, ...] = (),
) -> AuditRecord:
    return AuditRecord(
        kind=kind,
        principal=principal(),
        org=submission.org.key,
        accelerator_id=submission.spec.id,
        dry_run=submission.dry_run,
        parameters=submission.masked_parameters(),
        parameters_hash=submission.parameters_hash,
        plan_job_id=submission.plan.id if submission.plan else None,
        consent=consent,
        consent_detail=detail,
        job_id=job_id,
        status=status,
        note=note,
        approvers=approvers,
    )


async def _send(state: Services, submission: Submission, consent: str, *, approvers: tuple[Approver, ...] = ()) -> SubmitOutcome:
    """Consume the plan (real runs), POST once, and record what happened, come what may;
    the audit records name the `approvers` who signed the run off.

    Shielded from cancellation: once the plan is consumed, a client that goes away must
    not leave the ledger saying "sending" for a job that may exist.
    """
    attempt = Attempt(
        attempt_id=uuid.uuid4().hex,
        org=submission.org.key,
        principal=principal(),
        accelerator_id=submission.spec.id,
        dry_run=submission.dry_run,
        parameters_hash=submission.parameters_hash,
        started_at=datetime.now(UTC),
        plan_job_id=submission.plan.id if submission.plan else None,
    )
    ledger, plan, org = state.ledger, submission.plan, submission.org
    with anyio.CancelScope(shield=True):
        if plan is not None:
            use = await ledger.consume_plan(
                org.key,
                plan.id,
                attempt_id=attempt.attempt_id,
                accelerator_id=submission.spec.id,
                parameters_hash=submission.parameters_hash,
            )
            if not use.consumed:
                raise ToolError(
                    f"The plan {plan.id} was used by another real run a moment ago (job {use.record.job_id or 'unknown'}); "
                    f"a plan backs exactly one run. Nothing was sent. Next: {ToolName.LIST_JOBS} with "
                    f"accelerator_id={submission.spec.id}."
                )
        await ledger.begin_attempt(attempt, audit=_audit_record(submission, consent=consent, approvers=approvers))
        try:
            outcome = await submit_once(
                org.client,
                submission.body(),
                org=org.key,
                book=ledger,
                attempt_id=attempt.attempt_id,
                started=attempt.started_at,
            )
        except GenesysError as error:
            if plan is not None:
                await ledger.release_plan(org.key, plan.id, attempt_id=attempt.attempt_id)
            failed = type(error).__name__
            note = f"not submitted: {failed}"
            record = _audit_record(submission, consent=consent, kind="outcome", note=note, approvers=approvers)
            await ledger.finish_attempt(attempt.attempt_id, outcome="failed", job_id=None, note=failed, audit=record)
            raise
        await _record(state, submission, attempt, outcome, consent, approvers)
    return outcome


async def _record(
    state: Services,
    submission: Submission,
    attempt: Attempt,
    outcome: SubmitOutcome,
    consent: str,
    approvers: tuple[Approver, ...] = (),
) -> None:
    ledger, plan = state.ledger, submission.plan
    if isinstance(outcome, Unknown):
        if plan is not None:
            await ledger.mark_plan_in_doubt(submission.org.key, plan.id, attempt_id=attempt.attempt_id, reason=outcome.reason)
        note = f"outcome unknown: {outcome.reason}"
        record = _audit_record(submission, consent=consent, kind="outcome", note=note, approvers=approvers)
        await ledger.finish_attempt(attempt.attempt_id, outcome="unknown", job_id=None, note=outcome.reason, audit=record)
        return
    if plan is not None:
        await ledger.mark_plan_backed(submission.org.key, plan.id, attempt_id=attempt.attempt_id, job_id=outcome.job.id)
    kind = "created" if isinstance(outcome, Created) else "found"
    job = outcome.job
    record = _audit_record(submission, consent=consent, kind="outcome", job_id=job.id, status=job.status, approvers=approvers)
    await ledger.finish_attempt(attempt.attempt_id, outcome=kind, job_id=job.id, audit=record)


async def _look_again(state: Services, submission: Submission) -> SubmitOutcome:
    """A run this plan backed is in doubt: look for its job again; never send a second one."""
    record = submission.plan_record
    assert record is not None and submission.plan is not None
    outcome = await reconcile(
        submission.org.client,
        submission.body(),
        org=submission.org.key,
        book=state.ledger,
        attempt_id=record.attempt_id,
        started=record.started_at,
        cause="an earlier real run backed by this plan lost its answer",
    )
    if isinstance(outcome, Found):
        await state.ledger.mark_plan_backed(
            submission.org.key, submission.plan.id, attempt_id=record.attempt_id, job_id=outcome.job.id
        )
        await state.ledger.finish_attempt(record.attempt_id, outcome="found", job_id=outcome.job.id)
    return outcome


def _unknown(submission: Submission, outcome: Unknown) -> ToolError:
    accelerator = submission.spec.id
    seen = ", ".join(f"{job.id} ({job.status})" for job in outcome.candidates[:10]) or "none"
    plan = "" if submission.dry_run else " The plan stays reserved for this run, so it cannot start a second one."
    return ToolError(
        f"Outcome unknown: the submission of accelerator {accelerator} may or may not have created a job "
        f"({outcome.cause}); {outcome.reason}. Candidate jobs: {seen}. It was NOT resent, to avoid running it twice."
        f"{plan} Next: in a minute call {ToolName.LIST_JOBS} with accelerator_id={accelerator} and show the user "
        f"what is there; call {ToolName.SUBMIT_JOB} again with the same input to look for the job once more. "
        + ("A dry run whose outcome is unknown gives no plan token: run a new one." if submission.dry_run else "")
    )


def plan_token_for(state: Services, submission: Submission, job: InfrastructureascodeJob) -> str:
    """The token that lets this dry run back one real run of the same input in the same org."""
    return issue_plan_token(
        state.signing_key,
        dry_run_job_id=job.id,
        org=submission.org.key,
        accelerator_id=submission.spec.id,
        parameters=submission.wire,
        ttl_seconds=PLAN_TOKEN_TTL,
        now=time.time(),
    )


async def planned(
    ctx: Context, org: str, accelerator_id: str, parameters: dict[str, Any]
) -> tuple[Submission, InfrastructureascodeJob]:
    """A dry run exactly as submit-job makes one: checked, sent once, recorded, its secrets kept
    to mask its output. Raises a `ToolError` naming every problem, or an unknown outcome."""
    state = services(ctx)
    submission = await check_submission(ctx, accelerator_id, parameters, True, None, org)
    return submission, _created_job(submission, await _send(state, submission, "not-needed"))


def _created_job(submission: Submission, outcome: SubmitOutcome) -> InfrastructureascodeJob:
    """The job a submission created (its sensitive values kept to mask its output), or the
    unknown outcome as the error that says how to check."""
    if isinstance(outcome, Unknown):
        raise _unknown(submission, outcome)
    submission.org.secrets.add(outcome.job.id, submission.sensitive_values())
    return outcome.job


SUBMIT_JOB_TEXT = f"""\
Run an accelerator as a Genesys Cloud IaC job. dry_run=true (default) only plans: nothing \
changes; the result carries a plan_token. dry_run=false really changes the org: it needs the \
plan_token of a successful dry run of the same accelerator and parameters (one plan, one real \
run) and the user's explicit consent after seeing the plan (the server also asks them \
through the client). Every problem in `parameters` is reported at once; nothing is sent until all \
are fixed. The job is as {ToolName.GET_JOB} returns it. Next: {ToolName.GET_JOB} with wait_seconds."""

SUBMIT_JOB_DRY_RUN_ONLY_TEXT = f"""\
Plan an accelerator as a Genesys Cloud IaC dry-run job: nothing changes (this server runs in \
dry-run-only mode, so real runs are refused). Every problem in `parameters` is reported at once; \
nothing is sent until all are fixed. The job is as {ToolName.GET_JOB} returns it. Next: \
{ToolName.GET_JOB} with wait_seconds."""

DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True)
PLAN_ONLY = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)


async def submit_job(
    ctx: Context,
    submission: Annotated[Submission, Resolve(checked_submission)],
    consent: Annotated[ElicitationResult[Consent], Resolve(asked_consent)],
    accelerator_id: ACCELERATOR_ID,
    parameters: Parameters = {},  # noqa: B006 - pydantic copies defaults
    dry_run: bool = True,
    plan_token: Annotated[str | None, Field(max_length=2000)] = None,
    org: ORG = None,
) -> Annotated[CallToolResult, SubmitResult]:
    state = services(ctx)
    masked = submission.masked_parameters()
    defaults = [p.name for p in submission.form.parameters if p.name in submission.wire and p.name not in parameters]
    verdict = _verdict(consent)
    stood_in = _not_asked(consent)
    approval = stood_in.approval if stood_in else None
    if verdict == "approval-pending":
        assert approval is not None
        result = SubmitResult(
            submitted=False,
            parameters=masked,
            defaults_applied=defaults,
            consent=verdict,
            approval=approval,
            note=f"Nothing was submitted: the real run is {approval.reason}.",
            next_step=approval.next_step,
        )
        text = (
            f"Nothing was submitted: the real run of {accelerator_id} needs an approval ({approval.policy} policy): "
            f"{approval.reason}.\nApproval link: {approval.link}\nNext: {approval.next_step}"
        )
        return structured(result, text, submission.org)
    if verdict in ("declined", "cancelled"):
        await state.ledger.audit(_audit_record(submission, consent=verdict))
        result = SubmitResult(
            submitted=False,
            parameters=masked,
            defaults_applied=defaults,
            consent=verdict,
            note=f"The user {verdict} the real run: nothing was submitted.",
            next_step=DECLINED_NEXT_STEP,
        )
        return structured(
            result,
            f"Nothing was submitted: the user {verdict} the real run of {accelerator_id}. {DECLINED_NEXT_STEP}",
            submission.org,
        )

    approvers = stood_in.approvers if stood_in else ()
    if submission.plan_record is not None:
        outcome = await _look_again(state, submission)
    elif verdict in ("accepted", "approved"):  # a human may have taken minutes: sending starts a fresh time limit
        with time_limit(state.settings.call_time_limit):
            outcome = await _send(state, submission, verdict, approvers=approvers)
    else:
        outcome = await _send(state, submission, verdict)
    job = _created_job(submission, outcome)
    note = None
    if isinstance(outcome, Found):
        note = "The answer was lost or unreadable, so the job was found in the history instead of being resent."
    token = plan_token_for(state, submission, job) if dry_run else None
    view = job_view(await submission.org.jobs.masked(job, submission.form.sensitive_names))
    result = SubmitResult(
        submitted=True,
        job=view,
        parameters=masked,
        defaults_applied=defaults,
        plan_token=token,
        consent=verdict,
        note=note,
        approval=approval,
    )
    text = render_job(view)
    if not dry_run:
        text += "\nConsent: " + {
            "accepted": "the user accepted the question put to the client",
            "approved": approval.reason if approval else "approved",
        }.get(verdict, "waived by the operator's plan-token policy")
    if defaults:
        text += "\nDefaults applied: " + ", ".join(defaults)
    if note:
        text += "\nNote: " + note
    if token:
        text += f"\nplan_token (for the real run, once the plan is Complete): {token}"
    return structured(result, text, submission.org)


SUBMIT_JOB = Tool(
    name=ToolName.SUBMIT_JOB,
    title="Submit a job (dry run or real run)",
    description=SUBMIT_JOB_TEXT,
    annotations=DESTRUCTIVE,
    handler=submit_job,
    action=ACTION,
)

SUBMIT_DRY_RUN = Tool(
    name=ToolName.SUBMIT_JOB,
    title="Submit a dry-run job",
    description=SUBMIT_JOB_DRY_RUN_ONLY_TEXT,
    annotations=PLAN_ONLY,
    handler=submit_job,
    action=ACTION,
)


def tools_for(mode: Mode) -> tuple[Tool, ...]:
    """submit-job as the mode allows: absent when read-only, plan-only when dry-run-only."""
    return {Mode.READ_ONLY: (), Mode.DRY_RUN_ONLY: (SUBMIT_DRY_RUN,), Mode.APPLY: (SUBMIT_JOB,)}[mode]
