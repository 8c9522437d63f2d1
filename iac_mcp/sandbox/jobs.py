"""Job lifecycle: status derived from the clock, results rendered as Terraform output.

There are no background tasks: a job stores when it was submitted and its planned
outcome, and every read derives the status from `SandboxSettings.clock`. That keeps the
sandbox deterministic, equally correct over uvicorn and in-process, and lets tests
move time by hand.

Timeline over `job_duration` seconds: Created, Queued (from 10 %), Running (from 40 %),
then the outcome. With a duration of 0 the POST answer says Created and the first read
sees the outcome.

How a job ends, first match wins (documented in README.md):

1. parameters that failed validation (only with `validate_at="plan"`): Failed in plan;
2. a permission the spec lists that the OAuth client lacks: the provider gets
   `API Error: 403`, so a dry run ends Failed and a real run RollbackComplete;
3. a GUID in an integration-id parameter that is no integration of the job's org (another
   org's id, say): the provider gets `API Error: 404` naming it, the same two statuses;
4. the built-in failure-demo accelerator (`FAILURE_DEMO_ID`): its `outcome` parameter
   decides the real run, its dry runs end Complete;
5. a failure trigger in any parameter value (sensitive ones too):
   `sandbox:fail-rollback-failed` (RollbackFailed), `sandbox:fail-rollback`
   (RollbackComplete), `sandbox:fail` (Failed), `sandbox:incomplete` (Incomplete),
   `sandbox:internal-error` (InternalError). Rollback triggers model apply-time API
   errors, which a plan never meets: their dry runs end Complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from iac_mcp.sandbox.catalog import CatalogEntry
from iac_mcp.sandbox.orgs import MissingObject
from iac_mcp.sandbox.resources import Resource, is_data_action_module, module_name, plan_resources
from iac_mcp.sandbox.terraform import (
    COLOUR,
    PLAIN,
    Palette,
    render_apply,
    render_destroy,
    render_error,
    render_init,
    render_plan,
)
from iac_mcp.sandbox.validation import Problem
from iac_mcp.sandbox.vocabulary import is_terminal

JOBS_PATH = "/api/v2/infrastructureascode/jobs"
FAILURE_DEMO_ID = "0d5f5e2a-7c1b-4e58-9a3f-5a1d0b0e7f11"
TRIGGERS: tuple[tuple[str, str], ...] = (
    ("sandbox:fail-rollback-failed", "RollbackFailed"),
    ("sandbox:fail-rollback", "RollbackComplete"),
    ("sandbox:fail", "Failed"),
    ("sandbox:incomplete", "Incomplete"),
    ("sandbox:internal-error", "InternalError"),
)
DEMO_OUTCOMES = {
    "complete": "Complete",
    "failed": "Failed",
    "rollback-complete": "RollbackComplete",
    "rollback-failed": "RollbackFailed",
    "incomplete": "Incomplete",
    "internal-error": "InternalError",
}
_QUEUED_AT = 0.1
_RUNNING_AT = 0.4
_PLAN_ERRORS = {
    "missing": (
        "No value for required variable",
        'The root module input variable "{name}" is not set, and has no default value.',
    ),
    "unknown": (
        "Value for undeclared variable",
        'A variable named "{name}" was assigned, but the root module does not declare a variable of that name.',
    ),
    "wrong_type": ("Invalid value for input variable", "The given value is not suitable for var.{name}: {message}"),
    "not_allowed": ("Invalid value for input variable", "The given value is not suitable for var.{name}: {message}"),
    "duplicate": ("Invalid value for input variable", "var.{name} is assigned more than once."),
}


@dataclass(frozen=True)
class Outcome:
    """How a job ends, and why."""

    status: str
    reason: str = ""
    problems: tuple[Problem, ...] = ()
    missing_permissions: tuple[str, ...] = ()
    missing_objects: tuple[MissingObject, ...] = ()

    @property
    def refusal(self) -> str | None:
        """The provider's API error when the platform refuses the run's calls (403 or 404), else None."""
        if self.missing_permissions:
            return permission_error(self.missing_permissions)
        if self.missing_objects:
            return "\n".join(m.detail() for m in self.missing_objects)
        return None


def planned_outcome(
    entry: CatalogEntry,
    values: dict[str, str],
    dry_run: bool,
    *,
    problems: Sequence[Problem] = (),
    missing_permissions: Sequence[str] = (),
    missing_objects: Sequence[MissingObject] = (),
) -> Outcome:
    """The terminal status the job will reach (see the module docstring for the order)."""
    if problems:
        return Outcome("Failed", "invalid parameters: " + ", ".join(p.name for p in problems), problems=tuple(problems))
    if missing_permissions:
        status = "Failed" if dry_run else "RollbackComplete"
        return Outcome(
            status, "missing permission(s) " + ", ".join(missing_permissions), missing_permissions=tuple(missing_permissions)
        )
    if missing_objects:
        status = "Failed" if dry_run else "RollbackComplete"
        reason = "no such object(s) in this org: " + ", ".join(f"{m.kind} in {m.parameter}" for m in missing_objects)
        return Outcome(status, reason, missing_objects=tuple(missing_objects))
    if entry.spec.id == FAILURE_DEMO_ID:
        chosen = values.get("outcome", "complete")
        return Outcome("Complete" if dry_run else DEMO_OUTCOMES.get(chosen, "Complete"), f"outcome={chosen}")
    for trigger, trigger_status in TRIGGERS:
        carrier = next((name for name, value in values.items() if trigger in value), None)
        if carrier is not None:
            status = "Complete" if dry_run and trigger_status.startswith("Rollback") else trigger_status
            return Outcome(status, f"{trigger} in parameter {carrier!r}")
    return Outcome("Complete")


def permission_error(missing: Sequence[str]) -> str:
    """The provider's text for a 403 from the platform API."""
    return (
        "API Error: 403 - Unable to perform the requested action. "
        f"You are missing the following permission(s): [{', '.join(missing)}]"
    )


@dataclass(frozen=True)
class Job:
    """One submitted job. Immutable: its status is a function of the clock."""

    id: str
    sequence: int
    org: str
    """The name of the org whose token submitted it: only that org's tokens see it."""
    entry: CatalogEntry
    dry_run: bool
    values: dict[str, str]
    submitted_at: float
    date_submitted: datetime
    submitted_by: str
    outcome: Outcome

    def status_at(self, now: float, duration: float) -> str:
        elapsed = now - self.submitted_at
        if duration <= 0 or elapsed >= duration:
            return self.outcome.status
        if elapsed >= _RUNNING_AT * duration:
            return "Running"
        if elapsed >= _QUEUED_AT * duration:
            return "Queued"
        return "Created"

    def error_info(self) -> dict[str, str] | None:
        """`errorInfo` of a failed job; None when it succeeded."""
        status, reason = self.outcome.status, self.outcome.reason
        if status == "Complete":
            return None
        if status == "InternalError":
            return {"code": "internal.server.error", "message": f"The job could not be run: internal error ({reason})."}
        if status == "Incomplete":
            return {"code": "job.incomplete", "message": f"The job did not finish ({reason})."}
        refusal = self.outcome.refusal
        if refusal is not None:
            stage = "plan" if self.dry_run else "apply"
            return {"code": "job.failed", "message": f"Terraform {stage} failed: {' '.join(refusal.splitlines())}"}
        stage = "plan" if self.dry_run or self.outcome.problems else "apply"
        return {"code": "job.failed", "message": f"Terraform {stage} failed ({reason})."}

    def results(self, colour: bool) -> tuple[str, str | None]:
        """(`results`, `rollbackResults`) as Terraform would print them."""
        palette: Palette = COLOUR if colour else PLAIN
        if self.outcome.status == "InternalError":
            return "", None
        init = render_init([module_name(self.entry)] if is_data_action_module(self.entry) else [], palette)
        if self.outcome.problems:
            return init + self._invalid(palette), None
        resources = plan_resources(self.entry, self.values)
        refusal = self.outcome.refusal
        if refusal is not None:
            return self._refused(init, resources, palette, refusal)
        return self._run(init, resources, palette)

    def _invalid(self, palette: Palette) -> str:
        blocks = []
        for problem in self.outcome.problems:
            summary, detail = _PLAN_ERRORS[problem.code]
            blocks.append(render_error(palette, summary, None, detail.format(name=problem.name, message=problem.message)))
        return "".join(blocks)

    def _refused(self, init: str, resources: list[Resource], palette: Palette, detail: str) -> tuple[str, str | None]:
        """The platform refused the first call: nothing is created, a real run rolls back nothing."""
        failing = resources[0] if resources else None
        what = f"{failing.type} {failing.name}" if failing else "resources"
        if self.dry_run:
            return init + render_error(palette, f"Failed to read {what}", failing, detail), None
        text = init + render_apply(self.id, resources, palette, created=0)
        return text + render_error(palette, f"Failed to create {what}", failing, detail), render_destroy(self.id, [], palette)

    def _run(self, init: str, resources: list[Resource], palette: Palette) -> tuple[str, str | None]:
        status, reason = self.outcome.status, self.outcome.reason
        if status == "Complete":
            return init + (render_plan(resources, palette) if self.dry_run else render_apply(self.id, resources, palette)), None
        failing = resources[-1] if resources else None
        if status == "Incomplete":
            done = max(len(resources) - 1, 0)
            text = render_plan(resources, palette) if self.dry_run else render_apply(self.id, resources, palette, created=done)
            return init + text + render_error(
                palette, "execution halted", None, f"The run stopped before completing ({reason})."
            ), None
        detail = f"API Error: 400 - The sandbox was asked to fail this job ({reason})."
        if self.dry_run:
            return init + render_plan(resources, palette, summary=False) + render_error(
                palette, "invalid configuration", failing, detail
            ), None
        created = resources[:-1]
        text = init + render_apply(self.id, resources, palette, created=len(created))
        text += render_error(palette, f"creating {failing.address if failing else 'resources'}", failing, detail)
        if status == "Failed":
            return text, None
        failure = f"API Error: 409 - The sandbox was asked to fail this rollback ({reason})."
        return text, render_destroy(self.id, created, palette, failure=failure if status == "RollbackFailed" else None)

    def wire(self, now: float, duration: float, *, results: bool, errors: bool, colour: bool) -> dict[str, object]:
        """The job as JSON. `results` adds results/rollbackResults/errorInfo once terminal; `errors` adds errorInfo."""
        status = self.status_at(now, duration)
        body: dict[str, object] = {
            "id": self.id,
            "dryRun": self.dry_run,
            "acceleratorId": self.entry.spec.id,
            "dateSubmitted": self.date_submitted.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "submittedBy": {"id": self.submitted_by, "selfUri": f"/api/v2/users/{self.submitted_by}"},
            "status": status,
        }
        finished = is_terminal(status)
        if finished and (results or errors):
            info = self.error_info()
            if info is not None:
                body["errorInfo"] = info
        if finished and results:
            text, rollback = self.results(colour)
            body["results"] = text
            if rollback is not None:
                body["rollbackResults"] = rollback
        body["selfUri"] = f"{JOBS_PATH}/{self.id}"
        return body


def wall_time(start_wall: datetime, start_clock: float, now: float) -> datetime:
    """Wall-clock time for a clock reading, so a fake clock also moves `dateSubmitted`."""
    return start_wall + timedelta(seconds=now - start_clock)
