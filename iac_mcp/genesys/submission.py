"""Submitting a job once: the answer, the job found instead, or an honest "unknown".

`POST /jobs` is never resent once it may have reached Genesys (see `retry`). When its
answer is lost or unreadable the job may exist; it is then looked for in the history and
claimed only when exactly one unclaimed job can be ours: same accelerator, same dry-run
flag, submitted by our own identity, at or after the attempt's start less a small skew.
Anything else is `Unknown`, with the candidates, because guessing would hand one
caller's job to another. Claims and the identity live in a `ClaimBook` (the ledger), so
two replicas can never both claim one job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from iac_mcp.genesys.client import IacClient
from iac_mcp.genesys.errors import GenesysError, ServerError, TransportError, UnexpectedResponseError
from iac_mcp.genesys.models import AcceleratorInput, InfrastructureascodeJob

RECONCILE_SKEW = timedelta(seconds=30)
"""Clock difference tolerated between this host and Genesys when matching a job to an attempt."""

HISTORY_WINDOW = 50
"""How many of our newest jobs of the accelerator are searched for the lost one."""


class ClaimBook(Protocol):
    """Where claims and the submitter identity are kept, shared by every replica."""

    async def submitter(self, org: str) -> str | None: ...

    async def remember_submitter(self, org: str, submitter_id: str) -> str: ...

    async def claim_job(self, org: str, job_id: str, *, attempt_id: str) -> bool:
        """Atomically: True for the one attempt that claims the job, False for every other."""
        ...

    async def claimed(self, org: str, job_ids: Iterable[str]) -> set[str]: ...

    async def rivals(self, org: str, accelerator_id: str, dry_run: bool, *, attempt_id: str) -> int:
        """Other attempts of the same accelerator and flag that have not finished: their
        jobs would be indistinguishable from this attempt's."""
        ...


@dataclass(frozen=True)
class Created:
    """Genesys answered the submission with this job."""

    job: InfrastructureascodeJob


@dataclass(frozen=True)
class Found:
    """The answer was lost; this job, the only one that can be ours, was found and claimed."""

    job: InfrastructureascodeJob
    cause: str


@dataclass(frozen=True)
class Unknown:
    """The submission may or may not have created a job; nothing was resent."""

    cause: str
    reason: str
    candidates: tuple[InfrastructureascodeJob, ...] = ()


SubmitOutcome = Created | Found | Unknown

AMBIGUOUS: tuple[type[GenesysError], ...] = (TransportError, ServerError, UnexpectedResponseError)
"""Failures after which the job may exist (a `TransportError` only when `maybe_processed`)."""


def is_ambiguous(error: GenesysError) -> bool:
    if isinstance(error, TransportError):
        return error.maybe_processed
    return isinstance(error, AMBIGUOUS)


async def submit_once(
    client: IacClient, body: AcceleratorInput, *, org: str, book: ClaimBook, attempt_id: str, started: datetime | None = None
) -> SubmitOutcome:
    """POST the job once. Raises the `GenesysError` when the job surely was not created.

    `org` is the book's name for the org the client acts on (several orgs may share one API host)."""
    started = started or datetime.now(UTC)
    try:
        job = await client.create_job(body)
    except GenesysError as error:
        if not is_ambiguous(error):
            raise
        return await reconcile(client, body, org=org, book=book, attempt_id=attempt_id, started=started, cause=str(error))
    await book.claim_job(org, job.id, attempt_id=attempt_id)
    if job.submitted_by and job.submitted_by.id:
        await book.remember_submitter(org, job.submitted_by.id)
    return Created(job)


async def reconcile(
    client: IacClient, body: AcceleratorInput, *, org: str, book: ClaimBook, attempt_id: str, started: datetime, cause: str
) -> Found | Unknown:
    """Find the job an ambiguous submission created, claiming it only when it must be ours."""
    submitter = await book.submitter(org)
    if submitter is None:
        return Unknown(cause, "this server does not yet know the Genesys identity it submits as, so no job can be proven ours")
    try:
        history = await client.list_jobs(
            accelerator_id=body.accelerator_id,
            submitted_by=submitter,
            sort_by="dateSubmitted",
            sort_order="desc",
            max_results=HISTORY_WINDOW,
        )
    except GenesysError as error:
        return Unknown(cause, f"the job history could not be read ({type(error).__name__})")
    candidates = tuple(job for job in history if _may_be(job, body, submitter, started))
    if not candidates:
        return Unknown(cause, "no job of ours for this accelerator appeared in the history since the attempt began")
    taken = await book.claimed(org, (job.id for job in candidates))
    unclaimed = [job for job in candidates if job.id not in taken]
    rivals = await book.rivals(org, body.accelerator_id, body.dry_run, attempt_id=attempt_id)
    if len(unclaimed) == 1 and not rivals and await book.claim_job(org, unclaimed[0].id, attempt_id=attempt_id):
        return Found(unclaimed[0], cause)
    why = f"{len(unclaimed)} unclaimed job(s) could be this attempt's"
    if rivals:
        why += f", and {rivals} other submission(s) of the same accelerator were in flight"
    return Unknown(cause, why + ": none can be proven to be this one", candidates)


def _may_be(job: InfrastructureascodeJob, body: AcceleratorInput, submitter: str, started: datetime) -> bool:
    if job.accelerator_id != body.accelerator_id or job.dry_run is not body.dry_run:
        return False
    if not job.submitted_by or job.submitted_by.id != submitter:
        return False
    submitted = parse_time(job.date_submitted)
    return submitted is not None and submitted >= started - RECONCILE_SKEW


def parse_time(value: str | None) -> datetime | None:
    """An ISO-8601 time as Genesys writes it (`...Z`); None when absent or unreadable."""
    try:
        parsed = datetime.fromisoformat((value or "").replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
