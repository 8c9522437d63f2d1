"""Approvals by named people: who may decide, and when a real run's approvals are enough.

An elicited "accept" is an answer from the client, which an agent loop can give itself.
Under the `signed` and `four-eyes` policies a real run instead needs decisions recorded by
people who signed in to the org with Genesys and hold `infrastructureascode:job:add`
there, bound to exactly the plan they reviewed. These rules are pure: the ledger stores
the records, the transport shows the page, the Genesys client says who signed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

APPROVE_PERMISSION = "infrastructureascode:job:add"
"""What submitting a job takes in Genesys: an approver must be allowed to submit it themselves."""

Verdict = Literal["approved", "rejected"]
VERDICTS: tuple[Verdict, ...] = ("approved", "rejected")
State = Literal["approved", "pending", "rejected", "expired"]

WILDCARD = "*"
SIGNED = "signed"
FOUR_EYES = "four-eyes"
"""The policies that need approvals (`iac_mcp.settings.Approval` names them for the operator)."""


@dataclass(frozen=True)
class Approver:
    """A Genesys user, as `GET /api/v2/users/me` names them."""

    id: str
    name: str

    def describe(self) -> str:
        return f"{self.name} (user {self.id})"


class Policy(Protocol):
    """One policy of a role grant (`subjects/me`): a domain, an entity and its actions."""

    @property
    def domain(self) -> str: ...
    @property
    def entity(self) -> str: ...
    @property
    def actions(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class ApprovalRequest:
    """What an approver is asked to sign off: one plan of one org, as it was reviewed.

    `parameters` are masked; `expires_at` (epoch seconds) is the plan token's expiry, so an
    approval never outlives the plan it covers.
    """

    approval_id: str
    org: str
    """The ledger's key for the org."""
    profile: str
    org_label: str
    api_base: str
    policy: str
    """signed or four-eyes."""
    plan_job_id: str
    accelerator_id: str
    accelerator_name: str
    parameters_hash: str
    parameters: Mapping[str, str]
    to_add: int
    to_change: int
    to_destroy: int
    resources: Sequence[tuple[str, str]]
    requester: str
    """The MCP principal that asked for the run."""
    requester_identity: str | None
    """The requester's Genesys user id when the principal reveals it, else None."""
    created_at: float
    expires_at: float


@dataclass(frozen=True)
class Decision:
    """One person's approval or rejection of one request."""

    approver: Approver
    verdict: Verdict
    at: float


@dataclass(frozen=True)
class Status:
    """Where a request stands under its policy."""

    state: State
    approvals: tuple[Approver, ...]
    needed: int
    """How many more approvals the policy needs (0 once met)."""
    reason: str
    rejected_by: Approver | None = None

    @property
    def met(self) -> bool:
        return self.state == "approved"


@dataclass(frozen=True)
class SignedIn:
    """Who signed in to an org, and whether they may decide on its real runs."""

    approver: Approver
    org: str
    may_approve: bool


def holds(policies: Iterable[Policy], permission: str) -> bool:
    """Whether role policies grant `domain:entity:action`, with Genesys' `*` wildcards."""
    domain, entity, action = permission.split(":")
    return any(
        p.domain in (domain, WILDCARD) and p.entity in (entity, WILDCARD) and (action in p.actions or WILDCARD in p.actions)
        for p in policies
    )


def requester_identity(principal: str) -> str | None:
    """The Genesys identity an MCP principal carries: the subject of an OAuth principal
    (`oauth:<sub>`, a Genesys user id when Genesys is the identity provider); None for
    named bearer tokens and stdio, which say nothing about a person."""
    prefix, _, subject = principal.partition(":")
    return subject or None if prefix == "oauth" else None


def _at(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def needed_approvals(request: ApprovalRequest) -> int:
    """Signed: one approver. Four-eyes: one who is not the requester, or two people when
    the requester's identity is unknown (neither can then be the requester alone)."""
    if request.policy == FOUR_EYES and request.requester_identity is None:
        return 2
    return 1


def status(request: ApprovalRequest, decisions: Sequence[Decision], now: float) -> Status:
    """The request's state: a rejection is final, expiry ends it, else approvals count."""
    approvals = tuple(
        dict.fromkeys(
            d.approver
            for d in decisions
            if d.verdict == "approved" and not (request.policy == FOUR_EYES and d.approver.id == request.requester_identity)
        )
    )
    rejection = next((d for d in decisions if d.verdict == "rejected"), None)
    if rejection is not None:
        return Status(
            "rejected",
            approvals,
            needed_approvals(request),
            f"{rejection.approver.describe()} rejected this run at {_at(rejection.at)}",
            rejection.approver,
        )
    if now >= request.expires_at:
        return Status(
            "expired", approvals, needed_approvals(request), f"the approval request expired at {_at(request.expires_at)}"
        )
    missing = max(0, needed_approvals(request) - len(approvals))
    if missing == 0:
        names = ", ".join(a.describe() for a in approvals)
        return Status("approved", approvals, 0, f"approved by {names}")
    return Status("pending", approvals, missing, f"waiting for {missing} more approval(s) by {_who(request, approvals)}")


def _who(request: ApprovalRequest, approvals: Sequence[Approver]) -> str:
    if request.policy != FOUR_EYES:
        return f"a signed-in user holding {APPROVE_PERMISSION}"
    if request.requester_identity is not None:
        return f"someone other than the requester holding {APPROVE_PERMISSION}"
    people = "a second, different person" if approvals else "two different people"
    return f"{people} holding {APPROVE_PERMISSION}"


def decision_problem(
    request: ApprovalRequest, decisions: Sequence[Decision], signed_in: SignedIn, verdict: Verdict, now: float
) -> str | None:
    """Why this person may not record this decision now, or None when they may."""
    person = signed_in.approver.describe()
    if signed_in.org != request.org:
        return f"{person} signed in to another org; sign in to {request.profile} ({request.api_base}) to decide here"
    if not signed_in.may_approve:
        return (
            f"{person} does not hold {APPROVE_PERMISSION} in the org {request.profile}, so they cannot approve or reject "
            "its real runs; ask someone who can submit IaC jobs there"
        )
    current = status(request, decisions, now)
    if current.state == "expired":
        return f"{current.reason}, with its plan; the requester must run a new dry run and ask again"
    if current.state == "rejected":
        return f"{current.reason}; the decision is final, the requester must run a new dry run and ask again"
    earlier = next((d for d in decisions if d.approver.id == signed_in.approver.id), None)
    if earlier is not None:
        extra = " (four-eyes needs a different person)" if request.policy == FOUR_EYES else ""
        return f"{person} already {earlier.verdict} this run at {_at(earlier.at)}: one decision per person{extra}"
    if request.policy == FOUR_EYES and signed_in.approver.id == request.requester_identity and verdict == "approved":
        return f"{person} asked for this run, and four-eyes means someone else must approve it"
    if current.met and verdict == "approved":
        return f"this run is already {current.reason}; nothing more is needed"
    return None


def binding_problem(
    request: ApprovalRequest, *, org: str, plan_job_id: str, accelerator_id: str, parameters_hash: str
) -> str | None:
    """Why a request does not cover this real run, or None when it covers exactly it."""
    if request.org != org or request.plan_job_id != plan_job_id:
        return f"the approval {request.approval_id} is for the plan {request.plan_job_id} of org {request.profile}"
    if request.accelerator_id != accelerator_id:
        return f"the approval {request.approval_id} is for accelerator {request.accelerator_id}, not {accelerator_id}"
    if request.parameters_hash != parameters_hash:
        return f"the approval {request.approval_id} was given for other parameters"
    return None
