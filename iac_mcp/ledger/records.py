"""What the ledger keeps, as plain frozen values: plans, attempts, audit records (approval
requests and decisions are `iac_mcp.logic.approvals` values)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from iac_mcp.logic.approvals import Approver

PlanState = Literal["sending", "in_doubt", "backed"]
"""A consumed plan: its real run is being sent, may or may not exist, or is this job."""

OUTCOMES = frozenset({"created", "found", "unknown", "refused", "failed"})
"""How an attempt ended: Genesys answered with the job, reconciliation found it, nobody can
tell, the server refused before sending, or the POST surely never reached Genesys."""

AUDIT_KINDS = frozenset({"attempt", "outcome", "approval"})
"""`approval`: a person approved or rejected a real run (named in `approvers`)."""
CONSENTS = frozenset({"accepted", "declined", "cancelled", "waived", "refused", "not-needed", "approved", "rejected"})
"""`approved`: signed-in people approved the run (named in `approvers`); `rejected`: one rejected it."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def require_aware(name: str, moment: datetime) -> None:
    """A naive time would be read in the host's zone: replicas in other zones would disagree."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")


@dataclass(frozen=True)
class PlanRecord:
    """How a plan was used: by which attempt, since when, for which job (once known)."""

    state: PlanState
    attempt_id: str
    job_id: str | None
    started_at: datetime
    updated_at: datetime
    accelerator_id: str = ""
    parameters_hash: str = ""
    reason: str | None = None
    """Why the run is in doubt (the transport error), when it is."""


@dataclass(frozen=True)
class PlanUse:
    """The answer to "may this attempt send the plan's real run?": yes exactly once, else the record."""

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

    def __post_init__(self) -> None:
        require_aware("Attempt.started_at", self.started_at)


@dataclass(frozen=True)
class AuditRecord:
    """One line of the audit trail. Parameters arrive masked: the ledger stores what it is given."""

    kind: Literal["attempt", "outcome", "approval"]
    principal: str
    org: str
    accelerator_id: str
    dry_run: bool
    parameters: dict[str, str]
    parameters_hash: str
    plan_job_id: str | None
    consent: str
    """accepted, declined, cancelled, waived, refused, not-needed, approved or rejected."""
    consent_detail: str | None = None
    job_id: str | None = None
    status: str | None = None
    """The job's status when the record was written, then the latest a later call saw."""
    note: str | None = None
    approvers: tuple[Approver, ...] = ()
    """Who approved the run (or, for an `approval` record, who decided), by Genesys id and name."""
    id: int | None = None
    """Assigned by the ledger; None before the record is stored."""
    at: datetime = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        if self.kind not in AUDIT_KINDS:
            raise ValueError(f"audit kind must be one of {sorted(AUDIT_KINDS)}, got {self.kind!r}")
        if self.consent not in CONSENTS:
            raise ValueError(f"audit consent must be one of {sorted(CONSENTS)}, got {self.consent!r}")
        require_aware("AuditRecord.at", self.at)

    def to_json(self) -> dict[str, Any]:
        """A dict that `json.dumps` accepts as is: the time in ISO 8601, UTC."""
        data = asdict(self)
        data["at"] = self.at.astimezone(UTC).isoformat()
        data["approvers"] = [asdict(approver) for approver in self.approvers]
        return data
