"""promote-job: carry a change proven in one org to another, as a plan to review there.

Genesys' own CI/CD blueprint promotes dev → test → prod, and offers no comparison between
environments. A job this server ran in `from_org` says which accelerator and values worked;
values that name objects of that org (GUIDs, `*_id`) mean nothing elsewhere, and sensitive
values were never kept. The tool asks for those, dry-runs in `to_org` and sets both plans side
by side; the real run there goes through submit-job and all of its guards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field, create_model

from iac_mcp.genesys.models import InfrastructureascodeJob, scalar_text
from iac_mcp.ledger import AuditRecord
from iac_mcp.logic.forms import form_from_spec
from iac_mcp.logic.orgs import PlanSide, org_specific, plan_differences, plan_side
from iac_mcp.logic.redaction import MASK
from iac_mcp.logic.terraform import parse_terraform_output
from iac_mcp.logic.text import plain
from iac_mcp.server.services import Org
from iac_mcp.server.tools.common import JOB_ID, Tool, guarded, services, structured
from iac_mcp.server.tools.submit import Parameters, plan_token_for, planned
from iac_mcp.vocabulary import ToolName

PLAN_WAIT_SECONDS = 30.0
"""How long the tool waits for the target plan before handing over its job id instead."""


class PromotionResult(BaseModel):
    """Both plans of one change side by side, and the target plan's token."""

    from_org: str
    to_org: str
    source: PlanSide = Field(description="The plan behind the job in from_org.")
    target: PlanSide = Field(description="The dry run made in to_org.")
    differences: list[str] = Field(description="In plain words; empty: the same.")
    replaced: list[str] = Field(description="Parameters given for to_org.")
    parameters: dict[str, str] = Field(description="The target dry run's; sensitive values masked.")
    plan_token: str | None = Field(default=None, description="For the real run in to_org, once the plan is Complete.")
    next_step: str
    org: str | None = None


@dataclass(frozen=True)
class Promotion:
    """A checked promotion: the job, where it goes, what is known and what must be given."""

    source: Org
    target: Org
    record: AuditRecord
    plan_job_id: str
    carried: dict[str, str]
    """The source job's values that carry over as they are."""
    given: dict[str, str]
    asked: tuple[str, ...]
    """Org-specific parameters to ask the user for (never sensitive ones)."""


async def check_promotion(ctx: Context, job_id: str, from_org: str, to_org: str, parameters: Any) -> Promotion:
    """The job must be ours and have succeeded; every sensitive value must be given again."""
    state = services(ctx)
    source, target = state.at(from_org), state.at(to_org)
    if source.name == target.name:
        raise ToolError(f"from_org and to_org are both {source.name}: a promotion goes to another org.")
    given = _strings(parameters)
    record = await state.ledger.submission_of(source.key, job_id)
    if record is None:
        raise ToolError(
            f"Job {plain(job_id)[:64]} was not submitted through this server in {source.name}, so its accelerator and "
            f"values are not known here. Next: {ToolName.LIST_JOBS} with org={source.name} to find one of ours, or "
            f"{ToolName.SUBMIT_JOB} in {target.name} with the parameters."
        )
    job = await source.client.get_job(job_id)
    if (job.status or "").casefold() != "complete":
        raise ToolError(
            f"Job {job_id} in {source.name} is {job.status}, not Complete: only a change that succeeded is promoted. "
            f"Next: {ToolName.GET_JOB} with job_id={job_id} and org={source.name}."
        )
    spec = await target.specs.get(target.client, record.accelerator_id)
    sensitive = form_from_spec(spec).sensitive_names | {name for name, value in record.parameters.items() if value == MASK}
    carried = {name: value for name, value in record.parameters.items() if name not in sensitive}
    missing_sensitive = sorted(name for name in sensitive if name in record.parameters and name not in given)
    if missing_sensitive:
        raise ToolError(
            f"Give the sensitive values again in `parameters` (they are never kept, nor asked for through the client): "
            f"{', '.join(missing_sensitive)}. Next: call {ToolName.PROMOTE_JOB} again with them."
        )
    asked = tuple(name for name in org_specific(carried) if name not in given)
    return Promotion(source, target, record, record.plan_job_id or job.id, carried, given, asked)


checked_promotion = guarded(check_promotion, "promote job {job_id}", subject="job")


class TargetsNotAsked(BaseModel):
    reason: str


async def ask_targets(
    ctx: Context, promotion: Annotated[Promotion, Resolve(checked_promotion)]
) -> Elicit[BaseModel] | TargetsNotAsked:
    """Ask the user for the target org's values of org-specific parameters, where the client can be asked."""
    if not promotion.asked:
        return TargetsNotAsked(reason="nothing org-specific is missing")
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.elicitation is None:
        raise ToolError(
            f"These parameters name objects of {promotion.source.name} and need the values of {promotion.target.name}: "
            + ", ".join(f"{name} (was {promotion.carried[name]})" for name in promotion.asked)
            + f". Nothing was submitted. Next: ask the user for them and call {ToolName.PROMOTE_JOB} again with "
            "them in `parameters`."
        )
    return Elicit(_question(promotion), _targets_form(promotion))


asked_targets = guarded(ask_targets, "promote job", subject="job")


def _question(promotion: Promotion) -> str:
    return (
        f"Promote accelerator {promotion.record.accelerator_id} from {promotion.source.name} to "
        f"{promotion.target.name}: these values name objects of {promotion.source.name}. Give the ones of "
        f"{promotion.target.name} (a dry run follows; nothing changes yet)."
    )


def _targets_form(promotion: Promotion) -> type[BaseModel]:
    """A flat form with one text field per org-specific parameter (the same on every round)."""
    fields: dict[str, Any] = {
        name: (str, Field(title=f"{name} in {promotion.target.name}", description=f"In {promotion.source.name}: {value}"))
        for name, value in ((n, promotion.carried[n]) for n in promotion.asked)
    }
    model: type[BaseModel] = create_model("TargetValues", **fields)
    return model


async def promote_job(
    ctx: Context,
    promotion: Annotated[Promotion, Resolve(checked_promotion)],
    answer: Annotated[ElicitationResult[BaseModel], Resolve(asked_targets)],
    job_id: JOB_ID,
    from_org: Annotated[str, Field(description="Where the job ran.", max_length=64)],
    to_org: Annotated[str, Field(description="Where to plan it.", max_length=64)],
    parameters: Parameters = {},  # noqa: B006 - pydantic copies defaults
) -> Annotated[CallToolResult, PromotionResult]:
    state = services(ctx)
    supplied = dict(promotion.given)
    if not isinstance(answer, AcceptedElicitation):
        raise ToolError(f"The user did not give the values for {promotion.target.name}: nothing was submitted.")
    if not isinstance(answer.data, TargetsNotAsked):
        supplied |= _strings(answer.data.model_dump())
    missing = [name for name in promotion.asked if not supplied.get(name, "").strip()]
    if missing:
        raise ToolError(f"Still missing for {promotion.target.name}: {', '.join(missing)}. Nothing was submitted.")
    submission, job = await planned(ctx, promotion.target.name, promotion.record.accelerator_id, promotion.carried | supplied)
    target_job = await promotion.target.jobs.wait(job.id, details=True, seconds=PLAN_WAIT_SECONDS, on_status=_ignore)
    source_job = await promotion.source.jobs.get(promotion.plan_job_id, details=True)
    source, target = _side(promotion.source, source_job), _side(promotion.target, target_job)
    done = (target_job.status or "").casefold() == "complete"
    result = PromotionResult(
        from_org=promotion.source.name,
        to_org=promotion.target.name,
        source=source,
        target=target,
        differences=plan_differences(source, target),
        replaced=sorted(supplied),
        parameters=submission.masked_parameters(),
        plan_token=plan_token_for(state, submission, job),
        next_step=(
            f"Show the user both plans and what differs; with their consent call {ToolName.SUBMIT_JOB} with "
            f"org={promotion.target.name}, the same accelerator and parameters, dry_run=false and this plan_token."
            if done
            else f"The plan in {promotion.target.name} is {target_job.status}: follow it with {ToolName.GET_JOB} "
            f"job_id={job.id} org={promotion.target.name}; the plan_token counts once it is Complete."
        ),
    )
    return structured(result, _render(result), promotion.target)


async def _ignore(_: str | None) -> None:
    """get-job reports progress; here the tool waits quietly."""


def _side(org: Org, job: InfrastructureascodeJob) -> PlanSide:
    return plan_side(org.name, job.id, job.status, parse_terraform_output(job.results or ""))


def _strings(parameters: Any) -> dict[str, str]:
    """Parameter values in their wire form (`scalar_text`), as submit-job's checks will read them."""
    if not isinstance(parameters, dict):
        raise ToolError('`parameters` must be an object of parameter names to values, e.g. {"integration_id": "..."}.')
    wire: dict[str, str] = {}
    for name, value in parameters.items():
        try:
            text = scalar_text(value)
        except ValueError:
            raise ToolError(f"Parameter {plain(str(name))[:64]!r} must be a string, number or boolean.") from None
        if text is not None:
            wire[str(name)] = text
    return wire


def _render(result: PromotionResult) -> str:
    def line(side: PlanSide) -> str:
        return (
            f"{side.org}: job {side.job_id} ({side.status}), {side.to_add} to add, {side.to_change} to change, "
            f"{side.to_destroy} to destroy"
        )

    lines = [f"Promotion {result.from_org} → {result.to_org}.", line(result.source), line(result.target)]
    lines.append("Differences: " + ("; ".join(result.differences) if result.differences else "none"))
    if result.replaced:
        lines.append("Values given for " + result.to_org + ": " + ", ".join(result.replaced))
    if result.plan_token:
        lines.append(f"plan_token (for the real run in {result.to_org}): {result.plan_token}")
    lines.append("Next: " + result.next_step)
    return "\n".join(lines)


PROMOTE_JOB_TEXT = f"""\
Carry a change that succeeded in one org (a job of this server) to another: same accelerator and \
values, the target org's values asked for org-specific ones (GUIDs, *_id); dry-runs in to_org \
and returns both plans, what differs and the plan_token. Give sensitive values again. Nothing \
changes: the real run is {ToolName.SUBMIT_JOB} with the plan_token and the user's consent."""

PROMOTE_JOB = Tool(
    name=ToolName.PROMOTE_JOB,
    title="Promote a job to another org",
    description=PROMOTE_JOB_TEXT,
    annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True),
    handler=promote_job,
    action="promote job {job_id}",
    subject="job",
)
