"""Job lifecycle: status derived from the clock, results rendered as Terraform output.

There are no background tasks: a job stores when it was submitted and its planned
outcome, and every read derives the status from `SandboxSettings.clock`. That keeps the
sandbox deterministic, equally correct over uvicorn and in-process, and lets tests
move time by hand.

Timeline over `job_duration` seconds: Created, Queued (from 10 %), Running (from 40 %),
then the outcome. With a duration of 0 the POST answer says Created and the first read
sees the outcome.

Failure triggers (deterministic, documented in README.md), checked in every parameter
value, sensitive ones included (their values are still never shown):

* `sandbox:fail-rollback-failed` - apply fails, the rollback fails too: RollbackFailed.
* `sandbox:fail-rollback` - apply fails and is rolled back: RollbackComplete.
* `sandbox:fail` - the run fails: Failed.
* `sandbox:incomplete` - the run stops part-way: Incomplete.
* `sandbox:internal-error` - Genesys fails to run the job at all: InternalError.

Rollback triggers model apply-time API errors, which a plan never meets: their dry runs
end Complete. The built-in failure-demo accelerator (`FAILURE_DEMO_ID`) takes the real
run's outcome from its `outcome` enum parameter, and its dry runs always end Complete,
so a plan-then-apply workflow can reach every failure path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from iac_mcp.genesys.models import is_terminal
from iac_mcp.sandbox.catalog import CatalogEntry
from iac_mcp.sandbox.terraform import (
    COLOUR,
    PLAIN,
    Palette,
    Resource,
    plan_resources,
    render_apply,
    render_destroy,
    render_error,
    render_plan,
)

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


@dataclass(frozen=True)
class Outcome:
    """How a job ends, and why (the trigger and the parameter that carried it)."""

    status: str
    reason: str = ""


def planned_outcome(entry: CatalogEntry, values: dict[str, str], dry_run: bool) -> Outcome:
    """The terminal status the job will reach, from the demo accelerator's `outcome` or a trigger."""
    if entry.spec.id == FAILURE_DEMO_ID:
        chosen = values.get("outcome", "complete")
        status = "Complete" if dry_run else DEMO_OUTCOMES.get(chosen, "Complete")
        return Outcome(status=status, reason=f"outcome={chosen}")
    for trigger, trigger_status in TRIGGERS:
        carrier = next((name for name, value in values.items() if trigger in value), None)
        if carrier is not None:
            status = "Complete" if dry_run and trigger_status.startswith("Rollback") else trigger_status
            return Outcome(status=status, reason=f"{trigger} in parameter {carrier!r}")
    return Outcome(status="Complete")


@dataclass(frozen=True)
class Job:
    """One submitted job. Immutable: its status is a function of the clock."""

    id: str
    sequence: int
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

    def _resources(self) -> list[Resource]:
        result_types = [e.type for e in (self.entry.spec.results.entities if self.entry.spec.results else []) if e.type]
        return plan_resources(self.entry.form, result_types, self.values, self.entry.spec.name or "accelerator")

    def error_info(self) -> dict[str, str] | None:
        """`errorInfo` of a failed job; None when it succeeded."""
        status = self.outcome.status
        if status == "Complete":
            return None
        if status == "InternalError":
            return {"code": "internal.server.error", "message": f"The job could not be run: internal error ({self.outcome.reason})."}
        if status == "Incomplete":
            return {"code": "job.incomplete", "message": f"The job did not finish ({self.outcome.reason})."}
        return {"code": "job.failed", "message": f"Terraform {'plan' if self.dry_run else 'apply'} failed ({self.outcome.reason})."}

    def results(self, colour: bool) -> tuple[str, str | None]:
        """(`results`, `rollbackResults`) as Terraform would print them."""
        palette: Palette = COLOUR if colour else PLAIN
        resources = self._resources()
        status = self.outcome.status
        if status == "Complete":
            text = render_plan(resources, palette) if self.dry_run else render_apply(self.id, resources, palette)
            return text, None
        if status == "InternalError":
            return "", None
        failing = resources[-1] if resources else None
        if status == "Incomplete":
            done = max(len(resources) - 1, 0)
            text = (render_plan(resources, palette) if self.dry_run else render_apply(self.id, resources, palette, created=done))
            return text + render_error(palette, "execution halted", None, f"The run stopped before completing ({self.outcome.reason})."), None
        detail = f"API Error: 400 - The sandbox was asked to fail this job ({self.outcome.reason})."
        if self.dry_run:
            return render_plan(resources, palette, summary=False) + render_error(palette, "invalid configuration", failing, detail), None
        created = resources[:-1]
        text = render_apply(self.id, resources, palette, created=len(created))
        text += render_error(palette, f"creating {failing.address if failing else 'resources'}", failing, detail)
        if status == "Failed":
            return text, None
        failure = f"API Error: 409 - The sandbox was asked to fail this rollback ({self.outcome.reason})."
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
