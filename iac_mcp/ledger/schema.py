"""The ledger's tables (schema version 2) and how a ledger reaches this version.

Every guard is a primary key: two writers racing to insert the same row get one success and
one conflict, on SQLite and PostgreSQL alike. Times are seconds since the epoch (UTC), which
both back ends store and compare the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

SCHEMA_VERSION = 2

metadata = sa.MetaData()

schema_version = sa.Table("schema_version", metadata, sa.Column("version", sa.Integer, primary_key=True))
"""One row per version the ledger went through; the highest is the version it has."""

submitters = sa.Table(
    "submitters",
    metadata,
    sa.Column("org", sa.String(300), primary_key=True),
    sa.Column("submitter_id", sa.String(200), nullable=False),
    sa.Column("learned_at", sa.Double, nullable=False),
)
"""The Genesys identity our OAuth client submits as, learned from our first answered submission."""

plans = sa.Table(
    "plans",
    metadata,
    sa.Column("org", sa.String(300), primary_key=True),
    sa.Column("plan_job_id", sa.String(200), primary_key=True),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("attempt_id", sa.String(64), nullable=False),
    sa.Column("accelerator_id", sa.String(200), nullable=False),
    sa.Column("parameters_hash", sa.String(64), nullable=False),
    sa.Column("job_id", sa.String(200)),
    sa.Column("reason", sa.Text),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)
"""Consumed plans: a row exists once a real run was sent with the plan."""

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("attempt_id", sa.String(64), primary_key=True),
    sa.Column("org", sa.String(300), nullable=False),
    sa.Column("principal", sa.String(200), nullable=False),
    sa.Column("accelerator_id", sa.String(200), nullable=False),
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("parameters_hash", sa.String(64), nullable=False),
    sa.Column("plan_job_id", sa.String(200)),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("finished_at", sa.Double),
    sa.Column("outcome", sa.String(20)),
    sa.Column("job_id", sa.String(200)),
    sa.Column("note", sa.Text),
    sa.Index("attempts_open", "org", "accelerator_id", "dry_run", "finished_at"),
)

claims = sa.Table(
    "claims",
    metadata,
    sa.Column("org", sa.String(300), primary_key=True),
    sa.Column("job_id", sa.String(200), primary_key=True),
    sa.Column("attempt_id", sa.String(64), nullable=False),
    sa.Column("claimed_at", sa.Double, nullable=False),
)
"""Jobs reported to a caller: a job is claimed by at most one attempt, across replicas."""

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Double, nullable=False, index=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("principal", sa.String(200), nullable=False),
    sa.Column("org", sa.String(300), nullable=False),
    sa.Column("accelerator_id", sa.String(200), nullable=False),
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("parameters", sa.Text, nullable=False),
    sa.Column("parameters_hash", sa.String(64), nullable=False),
    sa.Column("plan_job_id", sa.String(200)),
    sa.Column("consent", sa.String(20), nullable=False),
    sa.Column("consent_detail", sa.Text),
    sa.Column("job_id", sa.String(200), index=True),
    sa.Column("status", sa.String(40)),
    sa.Column("note", sa.Text),
    sa.Column("approvers", sa.Text),
)
"""`approvers` (version 2): JSON `[{"id", "name"}]` of the people who approved or rejected, or NULL."""

approval_requests = sa.Table(
    "approval_requests",
    metadata,
    sa.Column("approval_id", sa.String(64), primary_key=True),
    sa.Column("org", sa.String(300), nullable=False),
    sa.Column("plan_job_id", sa.String(200), nullable=False),
    sa.Column("accelerator_id", sa.String(200), nullable=False),
    sa.Column("parameters_hash", sa.String(64), nullable=False),
    sa.Column("policy", sa.String(20), nullable=False),
    sa.Column("requester", sa.String(200), nullable=False),
    sa.Column("requester_identity", sa.String(200)),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.UniqueConstraint("org", "plan_job_id", name="approval_requests_plan"),
)
"""Approval requests (version 2): at most one per plan of an org, whoever asks first; `details`
is JSON of what the page shows (masked parameters, the plan's counts and resources)."""

approval_decisions = sa.Table(
    "approval_decisions",
    metadata,
    sa.Column("approval_id", sa.String(64), primary_key=True),
    sa.Column("approver_id", sa.String(200), primary_key=True),
    sa.Column("approver_name", sa.String(200), nullable=False),
    sa.Column("verdict", sa.String(20), nullable=False),
    sa.Column("decided_at", sa.Double, nullable=False),
)
"""Decisions (version 2): one per person per request, so a second click by the same person
(or a race of two) records nothing."""


Migration = Callable[[sa.Connection], None]


def _approvals(db: sa.Connection) -> None:
    """1 → 2: approval requests and decisions, and the approvers of audit records."""
    approval_requests.create(db)
    approval_decisions.create(db)
    db.execute(sa.text("ALTER TABLE audit ADD COLUMN approvers TEXT"))


MIGRATIONS: dict[int, Migration] = {1: _approvals}
"""`MIGRATIONS[n]` turns a version-n ledger into version n + 1."""


def installed_version(db: sa.Connection) -> int | None:
    """The ledger's schema version, or None for a database it has never been in."""
    if not sa.inspect(db).has_table(schema_version.name):
        return None
    found = db.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
    return int(found) if found is not None else None


def create(db: sa.Connection) -> None:
    """Lay out the current schema in a database the ledger has never been in."""
    metadata.create_all(db)
    db.execute(sa.insert(schema_version).values(version=SCHEMA_VERSION))


def upgrade(db: sa.Connection, found: int) -> None:
    """Bring a ledger of an older version up to `SCHEMA_VERSION`, one step at a time.

    Runs in the caller's transaction, under its lock, so that a failed step leaves the
    ledger at the version it had (PostgreSQL and SQLite both roll DDL back).
    """
    for version in range(found, SCHEMA_VERSION):
        step = MIGRATIONS.get(version)
        if step is None:
            raise LookupError(f"no migration from schema version {version}")
        step(db)
        db.execute(sa.insert(schema_version).values(version=version + 1))
