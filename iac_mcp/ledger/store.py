"""The ledger: the server's own durable state, shared by every worker and replica.

One code path for SQLite (the embedded default) and PostgreSQL (fleets): every operation is
one unit of SQLAlchemy Core work on a connection, run whole in a worker thread on SQLite (one
thread hop, where aiosqlite takes one per statement, fetch and cursor) and through asyncpg on
PostgreSQL. Every write that guards a submission is one insert-if-absent on a
primary key (`INSERT … ON CONFLICT DO NOTHING`), never a read then a write, so that of two
processes racing for one plan or one job exactly one wins; the losers read the winner's row.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from iac_mcp.ledger import schema
from iac_mcp.ledger.records import OUTCOMES, Attempt, AuditRecord, PlanRecord, PlanState, PlanUse, require_aware
from iac_mcp.ledger.urls import DATABASE_URL_ENV, LedgerConfigError, display_url, parse_database_url
from iac_mcp.logic.approvals import ApprovalRequest, Approver, Decision

if TYPE_CHECKING:  # sqlalchemy.ext.asyncio loads the whole ORM: only PostgreSQL needs it
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("iac_mcp.ledger")

RIVAL_WINDOW = timedelta(minutes=10)
"""An unfinished attempt older than this is presumed dead (its process stopped mid-POST): it no
longer blocks reconciliation, and it counts as in doubt."""

SQLITE_BUSY_MS = 15_000
"""How long a SQLite writer waits for another process's transaction before failing."""

CONNECT_TIMEOUT_S = 10.0
"""How long opening a PostgreSQL connection may take: an unreachable host fails start-up soon."""

SCHEMA_LOCK_KEY = 0x1AC_3C9
"""PostgreSQL advisory lock held while one process checks or lays out the schema."""

PLAN_RETRIES = 10
"""How often `consume_plan` looks again when the plan is released between its insert and its read."""


T = TypeVar("T")
Work = Callable[[sa.Connection], T]
"""One unit of ledger work: statements on one connection, in one transaction when it writes."""


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class Ledger:
    """Consumed plans, attempts, claims, the submitter identity, approvals and the audit trail."""

    def __init__(self, engine: sa.Engine | AsyncEngine, url: URL) -> None:
        self._engine = engine
        self.url_for_display = display_url(url)
        self._submitters: dict[str, str] = {}
        """Identities already stored: the first one kept for an org is never replaced."""

    def __repr__(self) -> str:
        return f"Ledger({self.url_for_display!r})"

    @classmethod
    async def open(cls, url: str) -> Ledger:
        """Connect, create the schema on first use, and refuse a schema newer than this code.

        Any failure is a `LedgerConfigError` naming the URL with its password masked.
        """
        parsed = parse_database_url(url)
        if parsed.get_backend_name() == "sqlite":
            directory = Path(parsed.database or "").parent
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise LedgerConfigError(
                    f"The ledger's directory {directory} cannot be created ({error.strerror}): check {DATABASE_URL_ENV}."
                ) from None
            engine: sa.Engine | AsyncEngine = sa.create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            from sqlalchemy.ext.asyncio import create_async_engine

            engine = create_async_engine(parsed, pool_pre_ping=True, connect_args={"timeout": CONNECT_TIMEOUT_S})
        ledger = cls(engine, parsed)
        try:
            await ledger._run(ledger._migrate)
        except (DBAPIError, OSError) as error:
            await ledger.aclose()
            raise LedgerConfigError(
                f"The ledger at {ledger.url_for_display} cannot be opened ({_reason(error, parsed)}): check "
                f"{DATABASE_URL_ENV} and that the database is reachable."
            ) from None
        except BaseException:
            await ledger.aclose()
            raise
        return ledger

    async def aclose(self) -> None:
        if isinstance(self._engine, sa.Engine):
            self._engine.dispose()
        else:
            await self._engine.dispose()

    async def _run(self, work: Work[T], *, write: bool = False) -> T:
        """Run one unit of work, in a transaction when it writes (committed when it returns)."""
        if isinstance(self._engine, sa.Engine):
            return await anyio.to_thread.run_sync(_unit, self._engine, work, write)
        async with self._engine.begin() if write else self._engine.connect() as db:
            return await db.run_sync(work)

    async def _write(self, work: Work[T]) -> T:
        return await self._run(work, write=True)

    def _migrate(self, connection: sa.Connection) -> None:
        """Create, check or upgrade the schema, one process at a time."""
        with _schema_lock(connection) as db:
            found = schema.installed_version(db)
            if found is None:
                schema.create(db)
                log.info("Created the ledger's schema (version %d) at %s", schema.SCHEMA_VERSION, self.url_for_display)
            elif found > schema.SCHEMA_VERSION:
                raise LedgerConfigError(
                    f"The ledger at {self.url_for_display} has schema version {found}, newer than this release "
                    f"understands ({schema.SCHEMA_VERSION}): upgrade iac-mcp, or point {DATABASE_URL_ENV} at another database."
                )
            elif found < schema.SCHEMA_VERSION:
                try:
                    schema.upgrade(db, found)
                except LookupError:
                    raise LedgerConfigError(
                        f"The ledger at {self.url_for_display} has schema version {found}, which this release cannot "
                        f"upgrade to {schema.SCHEMA_VERSION}."
                    ) from None
                log.info("Upgraded the ledger at %s from version %d to %d", self.url_for_display, found, schema.SCHEMA_VERSION)

    # --- Identity ---------------------------------------------------------------------

    async def submitter(self, org: str) -> str | None:
        """The Genesys identity our submissions to `org` carry, once one answer told us."""
        if org not in self._submitters:
            found = await self._run(lambda db: _stored_submitter(db, org))
            if found is not None:
                self._submitters[org] = found
        return self._submitters.get(org)

    async def remember_submitter(self, org: str, submitter_id: str) -> str:
        """Keep the first identity learned for `org`; returns the one stored (maybe another replica's).

        Once stored it is final, so a process that knows it writes nothing more."""
        if org not in self._submitters:

            def remember(db: sa.Connection) -> str:
                _insert_if_absent(db, schema.submitters, org=org, submitter_id=submitter_id, learned_at=time.time())
                return _stored_submitter(db, org) or submitter_id

            self._submitters[org] = await self._write(remember)
        return self._submitters[org]

    # --- Plans ------------------------------------------------------------------------

    async def consume_plan(
        self, org: str, plan_job_id: str, *, attempt_id: str, accelerator_id: str, parameters_hash: str
    ) -> PlanUse:
        """Atomically reserve the plan for this attempt's real run (state "sending").

        Exactly one attempt, in any process sharing the ledger, gets `consumed=True`; every
        other gets the record of the one that holds it.
        """
        for _ in range(PLAN_RETRIES):
            now = time.time()
            won = await self._write(
                partial(
                    _insert_if_absent,
                    table=schema.plans,
                    org=org,
                    plan_job_id=plan_job_id,
                    state="sending",
                    attempt_id=attempt_id,
                    accelerator_id=accelerator_id,
                    parameters_hash=parameters_hash,
                    started_at=now,
                    updated_at=now,
                )
            )
            record = await self.plan_record(org, plan_job_id)
            if record is not None:
                return PlanUse(consumed=won, record=record)
            # The holder released the plan between our insert and our read: it is free, try again.
        raise RuntimeError(f"the plan {plan_job_id} was consumed and released {PLAN_RETRIES} times while this attempt tried")

    async def mark_plan_backed(self, org: str, plan_job_id: str, *, attempt_id: str, job_id: str) -> bool:
        """The holder's run is this job (created, or found by reconciliation). True if recorded."""
        return await self._set_plan(org, plan_job_id, attempt_id, ("sending", "in_doubt"), state="backed", job_id=job_id)

    async def mark_plan_in_doubt(self, org: str, plan_job_id: str, *, attempt_id: str, reason: str) -> bool:
        """The holder's POST may have reached Genesys: the plan stays reserved, never released."""
        return await self._set_plan(org, plan_job_id, attempt_id, ("sending", "in_doubt"), state="in_doubt", reason=reason)

    async def release_plan(self, org: str, plan_job_id: str, *, attempt_id: str) -> bool:
        """The POST surely never reached Genesys: the plan may back a run again.

        Only the attempt holding the plan can release it, and only while it is "sending": a
        run in doubt or backed keeps its plan for good. True when this call released it.
        """
        plans = schema.plans.c
        statement = sa.delete(schema.plans).where(
            plans.org == org, plans.plan_job_id == plan_job_id, plans.attempt_id == attempt_id, plans.state == "sending"
        )
        return await self._write(lambda db: bool(db.execute(statement).rowcount))

    async def plan_record(self, org: str, plan_job_id: str) -> PlanRecord | None:
        """How the plan was used, or None while no real run was sent with it."""
        plans = schema.plans.c
        query = sa.select(schema.plans).where(plans.org == org, plans.plan_job_id == plan_job_id)
        row = await self._run(lambda db: db.execute(query).first())
        if row is None:
            return None
        state: PlanState = row.state
        return PlanRecord(
            state=state,
            attempt_id=row.attempt_id,
            job_id=row.job_id,
            started_at=_moment(row.started_at),
            updated_at=_moment(row.updated_at),
            accelerator_id=row.accelerator_id,
            parameters_hash=row.parameters_hash,
            reason=row.reason,
        )

    async def _set_plan(self, org: str, plan_job_id: str, attempt_id: str, states: tuple[str, ...], **values: Any) -> bool:
        """Move the holder's plan forward from one of `states`; a backed plan never moves back."""
        plans = schema.plans.c
        statement = (
            sa.update(schema.plans)
            .where(plans.org == org, plans.plan_job_id == plan_job_id, plans.attempt_id == attempt_id, plans.state.in_(states))
            .values(updated_at=time.time(), **values)
        )
        return await self._write(lambda db: bool(db.execute(statement).rowcount))

    # --- Attempts and claims ----------------------------------------------------------

    async def begin_attempt(self, attempt: Attempt, *, audit: AuditRecord | None = None) -> None:
        """Record the attempt before its POST is sent, so that a crash leaves a trace; with
        `audit`, its record in the same transaction (one commit, one fsync, before the POST)."""
        require_aware("Attempt.started_at", attempt.started_at)
        statement = sa.insert(schema.attempts).values(
            {field.name: getattr(attempt, field.name) for field in fields(attempt)} | {"started_at": _epoch(attempt.started_at)}
        )
        await self._write(partial(_execute, statement, audit))

    async def finish_attempt(
        self, attempt_id: str, *, outcome: str, job_id: str | None, note: str | None = None, audit: AuditRecord | None = None
    ) -> None:
        """Record how the attempt ended: created, found, unknown, refused or failed; with
        `audit`, its outcome record in the same transaction."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, got {outcome!r}")
        statement = (
            sa.update(schema.attempts)
            .where(schema.attempts.c.attempt_id == attempt_id)
            .values(finished_at=time.time(), outcome=outcome, job_id=job_id, note=note)
        )
        await self._write(partial(_execute, statement, audit))

    async def attempts_in_doubt(self, org: str) -> list[Attempt]:
        """Attempts that may have created a job nobody reported, newest first: those whose
        outcome was unknown, and those that never finished within `RIVAL_WINDOW` (their
        process stopped mid-POST)."""
        rows = schema.attempts.c
        stale = time.time() - RIVAL_WINDOW.total_seconds()
        query = (
            sa.select(schema.attempts)
            .where(
                rows.org == org, sa.or_(rows.outcome == "unknown", sa.and_(rows.finished_at.is_(None), rows.started_at < stale))
            )
            .order_by(rows.started_at.desc())
        )
        found = await self._run(lambda db: db.execute(query).all())
        return [
            Attempt(
                **{field.name: getattr(row, field.name) for field in fields(Attempt)} | {"started_at": _moment(row.started_at)}
            )
            for row in found
        ]

    async def rivals(self, org: str, accelerator_id: str, dry_run: bool, *, attempt_id: str) -> int:
        """Other unfinished attempts of the same accelerator and flag, started within
        `RIVAL_WINDOW`: their jobs would be indistinguishable from this attempt's."""
        rows = schema.attempts.c
        since = time.time() - RIVAL_WINDOW.total_seconds()
        query = sa.select(sa.func.count()).where(
            rows.org == org,
            rows.accelerator_id == accelerator_id,
            rows.dry_run == dry_run,
            rows.finished_at.is_(None),
            rows.attempt_id != attempt_id,
            rows.started_at >= since,
        )
        count: int | None = await self._run(lambda db: db.execute(query).scalar())
        return count or 0

    async def claim_job(self, org: str, job_id: str, *, attempt_id: str) -> bool:
        """True for the one attempt that claims the job; False for every other, in any process."""
        claimed_at = time.time()
        return await self._write(
            lambda db: _insert_if_absent(db, schema.claims, org=org, job_id=job_id, attempt_id=attempt_id, claimed_at=claimed_at)
        )

    async def claimed(self, org: str, job_ids: Iterable[str]) -> set[str]:
        """Which of these jobs some attempt already claimed."""
        ids = list(job_ids)
        if not ids:
            return set()
        claims = schema.claims.c
        query = sa.select(claims.job_id).where(claims.org == org, claims.job_id.in_(ids))
        return await self._run(lambda db: {str(row[0]) for row in db.execute(query)})

    # --- Audit ------------------------------------------------------------------------

    async def audit(self, record: AuditRecord) -> int:
        """Append the record (its `id` is ignored); returns the id it got."""
        statement = _audit_insert(record)
        key = await self._write(lambda db: db.execute(statement).inserted_primary_key)
        assert key is not None, "an INSERT of one row has a primary key"
        return int(key[0])

    async def record_job_status(self, org: str, job_id: str, status: str) -> int:
        """The status a later call saw, written onto the "outcome" records of that job.

        Updated in place rather than appended: the trail keeps one outcome per submission
        however often the job is polled, and that outcome shows the latest status known.
        "attempt" records keep what was known when they were written. Returns how many
        records changed.
        """
        rows = schema.audit.c
        statement = (
            sa.update(schema.audit)
            .where(rows.org == org, rows.job_id == job_id, rows.kind == "outcome", rows.status.is_distinct_from(status))
            .values(status=status)
        )
        return await self._write(lambda db: int(db.execute(statement).rowcount))

    async def recent_audit(self, *, since: datetime | None = None, limit: int = 50) -> list[AuditRecord]:
        """The newest records first, at most `limit` (1 to 10,000); a naive `since` is read as UTC."""
        rows = schema.audit.c
        query = sa.select(schema.audit).order_by(rows.id.desc()).limit(max(1, min(limit, 10_000)))
        if since is not None:
            moment = since if since.tzinfo else since.replace(tzinfo=UTC)
            query = query.where(rows.at >= _epoch(moment))
        found = await self._run(lambda db: db.execute(query).all())
        return [_audit_record(row) for row in found]

    async def submission_of(self, org: str, job_id: str) -> AuditRecord | None:
        """The outcome record of the submission that created this job in this org, if ours."""
        rows = schema.audit.c
        query = (
            sa.select(schema.audit)
            .where(rows.org == org, rows.job_id == job_id, rows.kind == "outcome")
            .order_by(rows.id.desc())
            .limit(1)
        )
        row = await self._run(lambda db: db.execute(query).first())
        return None if row is None else _audit_record(row)

    # --- Approvals --------------------------------------------------------------------

    async def open_approval(self, request: ApprovalRequest) -> ApprovalRequest:
        """Record the request unless its plan already has one; returns the plan's request (this
        one, or the one another caller or replica recorded first)."""
        await self._write(
            lambda db: _insert_if_absent(
                db,
                schema.approval_requests,
                approval_id=request.approval_id,
                org=request.org,
                plan_job_id=request.plan_job_id,
                accelerator_id=request.accelerator_id,
                parameters_hash=request.parameters_hash,
                policy=request.policy,
                requester=request.requester,
                requester_identity=request.requester_identity,
                details=json.dumps(_details(request), sort_keys=True, ensure_ascii=False),
                created_at=request.created_at,
                expires_at=request.expires_at,
            )
        )
        found = await self.approval_for_plan(request.org, request.plan_job_id)
        assert found is not None, "the request was just recorded, or another was"
        return found

    async def approval(self, approval_id: str) -> ApprovalRequest | None:
        rows = schema.approval_requests.c
        return await self._approval_where(rows.approval_id == approval_id)

    async def approval_for_plan(self, org: str, plan_job_id: str) -> ApprovalRequest | None:
        rows = schema.approval_requests.c
        return await self._approval_where(rows.org == org, rows.plan_job_id == plan_job_id)

    async def _approval_where(self, *where: sa.ColumnElement[bool]) -> ApprovalRequest | None:
        query = sa.select(schema.approval_requests).where(*where)
        row = await self._run(lambda db: db.execute(query).first())
        if row is None:
            return None
        details = json.loads(row.details)
        return ApprovalRequest(
            approval_id=row.approval_id,
            org=row.org,
            plan_job_id=row.plan_job_id,
            accelerator_id=row.accelerator_id,
            parameters_hash=row.parameters_hash,
            policy=row.policy,
            requester=row.requester,
            requester_identity=row.requester_identity,
            created_at=row.created_at,
            expires_at=row.expires_at,
            profile=details["profile"],
            org_label=details["org_label"],
            api_base=details["api_base"],
            accelerator_name=details["accelerator_name"],
            parameters=details["parameters"],
            to_add=details["to_add"],
            to_change=details["to_change"],
            to_destroy=details["to_destroy"],
            resources=[(action, address) for action, address in details["resources"]],
        )

    async def decide(self, approval_id: str, decision: Decision) -> bool:
        """Record one person's decision; False when they already decided (in any process)."""
        return await self._write(
            lambda db: _insert_if_absent(
                db,
                schema.approval_decisions,
                approval_id=approval_id,
                approver_id=decision.approver.id,
                approver_name=decision.approver.name,
                verdict=decision.verdict,
                decided_at=decision.at,
            )
        )

    async def decisions(self, approval_id: str) -> list[Decision]:
        """The request's decisions, oldest first."""
        rows = schema.approval_decisions.c
        query = sa.select(schema.approval_decisions).where(rows.approval_id == approval_id).order_by(rows.decided_at)
        found = await self._run(lambda db: db.execute(query).all())
        return [Decision(Approver(row.approver_id, row.approver_name), row.verdict, row.decided_at) for row in found]


# --- Plumbing -----------------------------------------------------------------------------


def _unit(engine: sa.Engine, work: Work[T], write: bool) -> T:
    with engine.begin() if write else engine.connect() as db:
        return work(db)


@contextmanager
def _schema_lock(connection: sa.Connection) -> Iterator[sa.Connection]:
    """A transaction that holds the database's schema lock: workers starting together on a
    fresh database would otherwise race to create the same tables."""
    if connection.dialect.name != "sqlite":
        with connection.begin():
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
            yield connection
        return
    # The sqlite3 module does not begin a transaction before DDL: take the write lock by hand.
    db = connection.execution_options(isolation_level="AUTOCOMMIT")
    db.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.exec_driver_sql("ROLLBACK")
        raise
    db.exec_driver_sql("COMMIT")


def _audit_insert(record: AuditRecord) -> sa.Insert:
    return sa.insert(schema.audit).values(
        {field.name: getattr(record, field.name) for field in fields(record) if field.name != "id"}
        | {
            "at": _epoch(record.at),
            "parameters": json.dumps(record.parameters, sort_keys=True, ensure_ascii=False),
            "approvers": _approvers_json(record.approvers),
        }
    )


def _execute(statement: sa.Executable, audit: AuditRecord | None, db: sa.Connection) -> None:
    """The statement, and the audit record beside it when there is one: one unit of work."""
    db.execute(statement)
    if audit is not None:
        db.execute(_audit_insert(audit))


def _insert_if_absent(db: sa.Connection, table: sa.Table, **values: Any) -> bool:
    """Insert the row unless its primary key exists; True when this call inserted it."""
    statement: sa.Executable
    if db.dialect.name == "sqlite":
        statement = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects import postgresql  # loaded when the first PostgreSQL write needs it

        statement = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    return bool(db.execute(statement).rowcount)


def _stored_submitter(db: sa.Connection, org: str) -> str | None:
    value = db.execute(sa.select(schema.submitters.c.submitter_id).where(schema.submitters.c.org == org)).scalar()
    return str(value) if value is not None else None


def _details(request: ApprovalRequest) -> dict[str, Any]:
    """What the approval page shows, kept as one JSON column (masked values only)."""
    return {
        "profile": request.profile,
        "org_label": request.org_label,
        "api_base": request.api_base,
        "accelerator_name": request.accelerator_name,
        "parameters": dict(request.parameters),
        "to_add": request.to_add,
        "to_change": request.to_change,
        "to_destroy": request.to_destroy,
        "resources": [list(resource) for resource in request.resources],
    }


def _approvers_json(approvers: tuple[Approver, ...]) -> str | None:
    return json.dumps([{"id": a.id, "name": a.name} for a in approvers], ensure_ascii=False) if approvers else None


def _approvers_of(stored: str | None) -> tuple[Approver, ...]:
    return tuple(Approver(entry["id"], entry["name"]) for entry in json.loads(stored)) if stored else ()


def _reason(error: BaseException, url: URL) -> str:
    """The driver's own words, first line only, with the password (if any) masked for safety."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    text = next(iter(str(cause).strip().splitlines()), "")[:300]
    if url.password:
        text = text.replace(str(url.password), "***")
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


def _sqlite_pragmas(connection: Any, _: Any) -> None:
    """Wait for other processes' locks rather than fail; WAL lets readers and one writer work at
    once across processes. `synchronous=FULL`: a consumed plan must survive a power cut."""
    cursor = connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _audit_record(row: sa.Row[Any]) -> AuditRecord:
    return AuditRecord(
        **(
            dict(row._mapping)
            | {"at": _moment(row.at), "parameters": json.loads(row.parameters), "approvers": _approvers_of(row.approvers)}
        )
    )
