"""The ledger: the server's own durable state, shared by every worker and replica.

One code path for SQLite (the embedded default) and PostgreSQL (fleets), through
SQLAlchemy's async Core. Every write that guards a submission is an insert-if-absent on a
primary key, so that of two replicas racing for one plan or one job exactly one wins.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from iac_mcp.ledger import schema
from iac_mcp.ledger.records import Attempt, AuditRecord, PlanRecord, PlanState, PlanUse
from iac_mcp.ledger.urls import LedgerConfigError, display_url, normalize_database_url

log = logging.getLogger("iac_mcp.ledger")

RIVAL_WINDOW = timedelta(minutes=10)
"""Unfinished attempts older than this (a process died mid-POST) no longer block reconciliation."""

SQLITE_BUSY_MS = 15_000
"""How long a SQLite writer waits for another process's transaction before failing."""


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class Ledger:
    """Consumed plans, attempts, claims, the submitter identity and the audit trail."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.url_for_display = display_url(engine.url)

    def __repr__(self) -> str:
        return f"Ledger({self.url_for_display!r})"

    @classmethod
    async def open(cls, url: str) -> Ledger:
        """Connect, create the schema on first use, and refuse a schema newer than this code."""
        parsed = normalize_database_url(url)
        if parsed.get_backend_name() == "sqlite":
            Path(parsed.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_async_engine(parsed, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            engine = create_async_engine(parsed, pool_pre_ping=True)
        ledger = cls(engine)
        try:
            await ledger._migrate()
        except (OperationalError, DBAPIError, OSError) as error:
            await engine.dispose()
            raise LedgerConfigError(
                f"The ledger at {ledger.url_for_display} cannot be opened ({type(error).__name__}): check "
                "IAC_MCP_DATABASE_URL and that the database is reachable."
            ) from None
        except BaseException:
            await engine.dispose()
            raise
        return ledger

    async def aclose(self) -> None:
        await self._engine.dispose()

    async def _migrate(self) -> None:
        for attempt in range(3):
            try:
                async with self._engine.begin() as db:
                    await db.run_sync(schema.metadata.create_all, checkfirst=True)
                    found = (await db.execute(sa.select(sa.func.max(schema.schema_version.c.version)))).scalar()
                    if found is None:
                        await self._insert_if_absent(db, schema.schema_version, version=schema.SCHEMA_VERSION)
                    elif found > schema.SCHEMA_VERSION:
                        raise LedgerConfigError(
                            f"The ledger at {self.url_for_display} has schema version {found}, newer than this "
                            f"release understands ({schema.SCHEMA_VERSION}): upgrade iac-mcp, or point "
                            "IAC_MCP_DATABASE_URL at another database."
                        )
                    # Versions older than SCHEMA_VERSION would be migrated here, one step each.
                return
            except IntegrityError:
                if attempt == 2:
                    raise
                # Another process created the schema at the same moment: look again.

    # --- Identity ---------------------------------------------------------------------

    async def submitter(self, org: str) -> str | None:
        async with self._engine.connect() as db:
            query = sa.select(schema.submitters.c.submitter_id).where(schema.submitters.c.org == org)
            value = (await db.execute(query)).scalar()
        return str(value) if value is not None else None

    async def remember_submitter(self, org: str, submitter_id: str) -> str:
        """Keep the first identity learned for `org`; returns the one stored."""
        async with self._engine.begin() as db:
            await self._insert_if_absent(db, schema.submitters, org=org, submitter_id=submitter_id, learned_at=time.time())
        return await self.submitter(org) or submitter_id

    # --- Plans ------------------------------------------------------------------------

    async def consume_plan(
        self, org: str, plan_job_id: str, *, attempt_id: str, accelerator_id: str, parameters_hash: str
    ) -> PlanUse:
        """Atomically reserve the plan for this attempt; every other attempt gets the record."""
        now = time.time()
        async with self._engine.begin() as db:
            won = await self._insert_if_absent(
                db,
                schema.plans,
                org=org,
                plan_job_id=plan_job_id,
                state="sending",
                attempt_id=attempt_id,
                accelerator_id=accelerator_id,
                parameters_hash=parameters_hash,
                started_at=now,
                updated_at=now,
            )
        record = await self.plan_record(org, plan_job_id)
        assert record is not None
        return PlanUse(consumed=won, record=record)

    async def mark_plan_backed(self, org: str, plan_job_id: str, *, attempt_id: str, job_id: str) -> None:
        await self._set_plan(org, plan_job_id, attempt_id, state="backed", job_id=job_id)

    async def mark_plan_in_doubt(self, org: str, plan_job_id: str, *, attempt_id: str, reason: str) -> None:
        await self._set_plan(org, plan_job_id, attempt_id, state="in_doubt", reason=reason)

    async def release_plan(self, org: str, plan_job_id: str, *, attempt_id: str) -> None:
        """The POST surely never reached Genesys: the plan may back a run again."""
        plans = schema.plans.c
        async with self._engine.begin() as db:
            await db.execute(
                sa.delete(schema.plans).where(
                    plans.org == org, plans.plan_job_id == plan_job_id, plans.attempt_id == attempt_id, plans.state == "sending"
                )
            )

    async def plan_record(self, org: str, plan_job_id: str) -> PlanRecord | None:
        plans = schema.plans.c
        async with self._engine.connect() as db:
            row = (await db.execute(sa.select(schema.plans).where(plans.org == org, plans.plan_job_id == plan_job_id))).first()
        if row is None:
            return None
        state: PlanState = row.state
        return PlanRecord(
            state=state,
            attempt_id=row.attempt_id,
            job_id=row.job_id,
            started_at=_moment(row.started_at),
            updated_at=_moment(row.updated_at),
        )

    async def _set_plan(self, org: str, plan_job_id: str, attempt_id: str, **values: Any) -> None:
        plans = schema.plans.c
        async with self._engine.begin() as db:
            await db.execute(
                sa.update(schema.plans)
                .where(plans.org == org, plans.plan_job_id == plan_job_id, plans.attempt_id == attempt_id)
                .values(updated_at=time.time(), **values)
            )

    # --- Attempts and claims ----------------------------------------------------------

    async def begin_attempt(self, attempt: Attempt) -> None:
        async with self._engine.begin() as db:
            await db.execute(
                sa.insert(schema.attempts).values(
                    attempt_id=attempt.attempt_id,
                    org=attempt.org,
                    principal=attempt.principal,
                    accelerator_id=attempt.accelerator_id,
                    dry_run=attempt.dry_run,
                    parameters_hash=attempt.parameters_hash,
                    plan_job_id=attempt.plan_job_id,
                    started_at=_epoch(attempt.started_at),
                )
            )

    async def finish_attempt(self, attempt_id: str, *, outcome: str, job_id: str | None, note: str | None = None) -> None:
        async with self._engine.begin() as db:
            await db.execute(
                sa.update(schema.attempts)
                .where(schema.attempts.c.attempt_id == attempt_id)
                .values(finished_at=time.time(), outcome=outcome, job_id=job_id, note=note)
            )

    async def attempts_in_doubt(self, org: str) -> list[Attempt]:
        """Attempts whose outcome stayed unknown, newest first."""
        rows = schema.attempts.c
        query = sa.select(schema.attempts).where(rows.org == org, rows.outcome == "unknown").order_by(rows.started_at.desc())
        async with self._engine.connect() as db:
            found = (await db.execute(query)).all()
        return [
            Attempt(
                attempt_id=row.attempt_id,
                org=row.org,
                principal=row.principal,
                accelerator_id=row.accelerator_id,
                dry_run=row.dry_run,
                parameters_hash=row.parameters_hash,
                started_at=_moment(row.started_at),
                plan_job_id=row.plan_job_id,
            )
            for row in found
        ]

    async def rivals(self, org: str, accelerator_id: str, dry_run: bool, *, attempt_id: str) -> int:
        """Other unfinished attempts of the same accelerator and flag, started recently."""
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
        async with self._engine.connect() as db:
            return int((await db.execute(query)).scalar() or 0)

    async def claim_job(self, org: str, job_id: str, *, attempt_id: str) -> bool:
        """True for the one attempt that claims the job; False for every other, in any process."""
        async with self._engine.begin() as db:
            return await self._insert_if_absent(
                db, schema.claims, org=org, job_id=job_id, attempt_id=attempt_id, claimed_at=time.time()
            )

    async def claimed(self, org: str, job_ids: Iterable[str]) -> set[str]:
        ids = list(job_ids)
        if not ids:
            return set()
        claims = schema.claims.c
        async with self._engine.connect() as db:
            rows = await db.execute(sa.select(claims.job_id).where(claims.org == org, claims.job_id.in_(ids)))
        return {str(row[0]) for row in rows}

    # --- Audit ------------------------------------------------------------------------

    async def audit(self, record: AuditRecord) -> int:
        async with self._engine.begin() as db:
            result = await db.execute(
                sa.insert(schema.audit).values(
                    at=_epoch(record.at),
                    kind=record.kind,
                    principal=record.principal,
                    org=record.org,
                    accelerator_id=record.accelerator_id,
                    dry_run=record.dry_run,
                    parameters=json.dumps(record.parameters, sort_keys=True, ensure_ascii=False),
                    parameters_hash=record.parameters_hash,
                    plan_job_id=record.plan_job_id,
                    consent=record.consent,
                    consent_detail=record.consent_detail,
                    job_id=record.job_id,
                    status=record.status,
                    note=record.note,
                )
            )
            key = result.inserted_primary_key
        return int(key[0]) if key else 0

    async def record_job_status(self, org: str, job_id: str, status: str) -> None:
        """The status a later call saw: written onto the outcome records of that job."""
        rows = schema.audit.c
        async with self._engine.begin() as db:
            await db.execute(
                sa.update(schema.audit)
                .where(rows.org == org, rows.job_id == job_id, rows.kind == "outcome", rows.status.is_distinct_from(status))
                .values(status=status)
            )

    async def recent_audit(self, *, since: datetime | None = None, limit: int = 50) -> list[AuditRecord]:
        rows = schema.audit.c
        query = sa.select(schema.audit).order_by(rows.id.desc()).limit(max(1, min(limit, 10_000)))
        if since is not None:
            moment = since if since.tzinfo else since.replace(tzinfo=UTC)
            query = query.where(rows.at >= _epoch(moment))
        async with self._engine.connect() as db:
            found = (await db.execute(query)).all()
        return [
            AuditRecord(
                id=row.id,
                at=_moment(row.at),
                kind=row.kind,
                principal=row.principal,
                org=row.org,
                accelerator_id=row.accelerator_id,
                dry_run=row.dry_run,
                parameters=json.loads(row.parameters),
                parameters_hash=row.parameters_hash,
                plan_job_id=row.plan_job_id,
                consent=row.consent,
                consent_detail=row.consent_detail,
                job_id=row.job_id,
                status=row.status,
                note=row.note,
            )
            for row in found
        ]

    # --- Plumbing ---------------------------------------------------------------------

    async def _insert_if_absent(self, db: AsyncConnection, table: sa.Table, **values: Any) -> bool:
        """Insert the row unless its primary key exists; True when this call inserted it."""
        dialect = sqlite if self._engine.dialect.name == "sqlite" else postgresql
        statement = dialect.insert(table).values(**values).on_conflict_do_nothing()
        result = await db.execute(statement)
        return bool(result.rowcount)


def _sqlite_pragmas(connection: Any, _: Any) -> None:
    """WAL lets readers and one writer work at once across processes; wait rather than fail."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.close()
