"""What the ledger keeps, as plain values: plans, attempts, audit records."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

PlanState = Literal["sending", "in_doubt", "backed"]
"""A consumed plan: its real run is being sent, may or may not exist, or is this job."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PlanRecord:
    """How a plan was used: by which attempt, since when, for which job."""

    state: PlanState
    attempt_id: str
    job_id: str | None
    started_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PlanUse:
    """The answer to "may this attempt use the plan?": yes exactly once, else the record."""

    consumed: bool
    record: PlanRecord


@dataclass(frozen=True)
class Attempt:
    """One submission attempt, recorded before the POST is sent."""

    attempt_id: str
    org: str
    principal: str
    accelerator_id: str
    dry_run: bool
    parameters_hash: str
    started_at: datetime
    plan_job_id: str | None = None


@dataclass(frozen=True)
class AuditRecord:
    """One line of the audit trail. Parameters arrive masked: the ledger never sees a secret."""

    kind: Literal["attempt", "outcome"]
    principal: str
    org: str
    accelerator_id: str
    dry_run: bool
    parameters: dict[str, str]
    parameters_hash: str
    plan_job_id: str | None
    consent: str
    """accepted, declined, cancelled, waived, refused or not-needed."""
    consent_detail: str | None = None
    job_id: str | None = None
    status: str | None = None
    note: str | None = None
    id: int | None = None
    at: datetime = field(default_factory=utc_now)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data
