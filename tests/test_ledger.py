"""The ledger on SQLite and on a real PostgreSQL: atomic guards across processes and restarts,
the schema's version, and URLs whose passwords never show."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from postgres_support import postgres_cluster, postgres_url  # noqa: F401 - fixtures
from sqlalchemy.ext.asyncio import create_async_engine

from iac_mcp.ledger import (
    Attempt,
    AuditRecord,
    Ledger,
    LedgerConfigError,
    default_database_url,
    normalize_database_url,
)
from iac_mcp.ledger import schema as ledger_schema

pytestmark = pytest.mark.anyio

ORG = "https://api.mypurecloud.ie"
OTHER_ORG = "https://api.usw2.pure.cloud"
SECRET = "hunter2-secret"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty ledger URL on each back end, as an operator would write it."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def ledger(url: str) -> AsyncIterator[Ledger]:
    book = await Ledger.open(url)
    try:
        yield book
    finally:
        await book.aclose()


async def consume(ledger: Ledger, plan: str, attempt_id: str, org: str = ORG) -> Any:
    return await ledger.consume_plan(org, plan, attempt_id=attempt_id, accelerator_id="acc", parameters_hash="h")


async def execute(url: str, statement: str) -> None:
    """Change the database behind the ledger's back, as another release or an operator would
    (SQLite through Python's sqlite3, as the ledger itself; PostgreSQL through asyncpg)."""
    target = normalize_database_url(url)
    if target.startswith("sqlite"):
        engine = sa.create_engine(target)
        with engine.begin() as sync_db:
            sync_db.execute(sa.text(statement))
        engine.dispose()
        return
    async_engine = create_async_engine(target)
    try:
        async with async_engine.begin() as db:
            await db.execute(sa.text(statement))
    finally:
        await async_engine.dispose()


# --- Plans --------------------------------------------------------------------------------


async def test_a_plan_is_consumed_once_and_every_loser_sees_the_holder(ledger: Ledger) -> None:
    first = await consume(ledger, "plan-1", "a1")
    second = await consume(ledger, "plan-1", "a2")
    assert first.consumed and not second.consumed
    assert second.record.attempt_id == "a1" and second.record.state == "sending" and second.record.job_id is None
    assert second.record.accelerator_id == "acc" and second.record.parameters_hash == "h"
    assert (await consume(ledger, "plan-1", "a3", org=OTHER_ORG)).consumed, "plans are per org"
    assert await ledger.plan_record(ORG, "never-used") is None


async def test_only_the_holder_releases_and_only_while_sending(ledger: Ledger) -> None:
    await consume(ledger, "p", "a1")
    assert not await ledger.release_plan(ORG, "p", attempt_id="a2"), "not the holder"
    assert await ledger.plan_record(ORG, "p") is not None
    assert await ledger.release_plan(ORG, "p", attempt_id="a1")
    assert await ledger.plan_record(ORG, "p") is None
    again = await consume(ledger, "p", "a2")
    assert again.consumed and again.record.attempt_id == "a2", "a released plan may back a run again"

    await ledger.mark_plan_in_doubt(ORG, "p", attempt_id="a2", reason="ReadTimeout")
    assert not await ledger.release_plan(ORG, "p", attempt_id="a2"), "a run in doubt keeps its plan"
    record = await ledger.plan_record(ORG, "p")
    assert record is not None and record.state == "in_doubt" and record.reason == "ReadTimeout"


async def test_a_plan_moves_forward_only_and_only_for_its_holder(ledger: Ledger) -> None:
    first = await consume(ledger, "p", "a1")
    assert not await ledger.mark_plan_backed(ORG, "p", attempt_id="intruder", job_id="job-x")
    assert not await ledger.mark_plan_in_doubt(ORG, "p", attempt_id="intruder", reason="r")
    assert await ledger.mark_plan_in_doubt(ORG, "p", attempt_id="a1", reason="reset")
    assert await ledger.mark_plan_backed(ORG, "p", attempt_id="a1", job_id="job-9"), "found by reconciliation"
    assert not await ledger.mark_plan_in_doubt(ORG, "p", attempt_id="a1", reason="late")
    assert not await ledger.mark_plan_backed(ORG, "p", attempt_id="a1", job_id="job-other")
    assert not await ledger.release_plan(ORG, "p", attempt_id="a1")
    record = await ledger.plan_record(ORG, "p")
    assert record is not None and (record.state, record.job_id) == ("backed", "job-9")
    assert record.started_at == first.record.started_at <= record.updated_at
    assert record.updated_at.tzinfo is not None


async def test_consumption_and_identity_survive_a_restart(url: str) -> None:
    ledger = await Ledger.open(url)
    await consume(ledger, "p", "a1")
    await ledger.mark_plan_in_doubt(ORG, "p", attempt_id="a1", reason="answer lost")
    await consume(ledger, "q", "a2")
    await ledger.mark_plan_backed(ORG, "q", attempt_id="a2", job_id="job-q")
    assert await ledger.remember_submitter(ORG, "user-1") == "user-1"
    await ledger.claim_job(ORG, "job-q", attempt_id="a2")
    await ledger.aclose()

    reopened = await Ledger.open(url)
    try:
        use = await consume(reopened, "p", "a9")
        assert not use.consumed and use.record.state == "in_doubt" and use.record.attempt_id == "a1"
        backed = await consume(reopened, "q", "a9")
        assert not backed.consumed and backed.record.job_id == "job-q"
        assert await reopened.submitter(ORG) == "user-1"
        assert await reopened.remember_submitter(ORG, "user-2") == "user-1", "the first identity learned stays"
        assert await reopened.submitter(OTHER_ORG) is None
        assert not await reopened.claim_job(ORG, "job-q", attempt_id="a9")
    finally:
        await reopened.aclose()


# --- Attempts and claims ------------------------------------------------------------------


async def test_claims_rivals_and_attempts_in_doubt(ledger: Ledger) -> None:
    now = datetime.now(UTC)
    assert await ledger.claim_job(ORG, "j1", attempt_id="a1")
    assert not await ledger.claim_job(ORG, "j1", attempt_id="a2")
    assert await ledger.claim_job(OTHER_ORG, "j1", attempt_id="a2"), "claims are per org"
    assert await ledger.claimed(ORG, ["j1", "j2"]) == {"j1"} and await ledger.claimed(ORG, []) == set()

    for attempt_id, started in (("a1", now), ("a2", now), ("dead", now - timedelta(hours=1))):
        await ledger.begin_attempt(Attempt(attempt_id, ORG, "stdio", "acc", False, "h", started, plan_job_id="p"))
    assert await ledger.rivals(ORG, "acc", False, attempt_id="a1") == 1, "a dead attempt does not block"
    assert await ledger.rivals(ORG, "acc", True, attempt_id="a1") == 0, "dry runs are not rivals of real runs"
    await ledger.finish_attempt("a2", outcome="unknown", job_id=None, note="ReadTimeout")
    assert await ledger.rivals(ORG, "acc", False, attempt_id="a1") == 0
    await ledger.finish_attempt("a1", outcome="created", job_id="j1")

    doubt = await ledger.attempts_in_doubt(ORG)
    assert [a.attempt_id for a in doubt] == ["a2", "dead"], "unknown outcomes, then attempts whose process died"
    assert doubt[0] == Attempt("a2", ORG, "stdio", "acc", False, "h", doubt[0].started_at, plan_job_id="p")
    assert abs(doubt[0].started_at - now) < timedelta(milliseconds=1)
    assert await ledger.attempts_in_doubt(OTHER_ORG) == []


async def test_bad_values_are_refused_before_they_are_stored(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Attempt("a", ORG, "stdio", "acc", True, "h", datetime.now())  # naive: the point
    with pytest.raises(ValueError, match="outcome must be one of"):
        await ledger.finish_attempt("a", outcome="maybe", job_id=None)
    with pytest.raises(ValueError, match="consent must be one of"):
        audit_record(consent="yes")


# --- Audit --------------------------------------------------------------------------------


def audit_record(**changes: Any) -> AuditRecord:
    values: dict[str, Any] = {
        "kind": "outcome",
        "principal": "token-abc",
        "org": ORG,
        "accelerator_id": "acc",
        "dry_run": False,
        "parameters": {"name": "VIP ✓", "secret": "********"},
        "parameters_hash": "h",
        "plan_job_id": "p",
        "consent": "accepted",
        "job_id": "j1",
        "status": "Queued",
    }
    return AuditRecord(**{**values, **changes})


async def test_the_audit_trail_keeps_records_newest_first_with_final_statuses(ledger: Ledger) -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    old = await ledger.audit(audit_record(kind="attempt", job_id=None, status=None, at=an_hour_ago))
    first = await ledger.audit(audit_record())
    second = await ledger.audit(audit_record(job_id="j2", consent="waived", consent_detail="plan-token policy"))
    assert old < first < second

    assert await ledger.record_job_status(ORG, "j1", "Complete") == 1
    assert await ledger.record_job_status(ORG, "j1", "Complete") == 0, "unchanged"
    assert await ledger.record_job_status(OTHER_ORG, "j2", "Failed") == 0, "another org's job"

    records = await ledger.recent_audit(limit=10)
    assert [r.id for r in records] == [second, first, old]
    assert records[1].status == "Complete" and records[0].status == "Queued" and records[2].status is None
    assert records[1].parameters == {"name": "VIP ✓", "secret": "********"}
    assert records[0].consent_detail == "plan-token policy" and records[1].at.tzinfo is not None
    data = json.loads(json.dumps(records[1].to_json()))
    assert data["id"] == first and data["kind"] == "outcome" and datetime.fromisoformat(data["at"]) == records[1].at

    assert [r.id for r in await ledger.recent_audit(limit=1)] == [second]
    assert [r.id for r in await ledger.recent_audit(since=an_hour_ago + timedelta(minutes=1))] == [second, first]
    naive_future = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None)
    assert await ledger.recent_audit(since=naive_future) == [], "a naive time is read as UTC"


# --- Two processes, one database ----------------------------------------------------------

RACER = textwrap.dedent(
    """
    import json, sys, time
    import anyio
    from iac_mcp.ledger import Ledger

    URL, NAME, CALLS = sys.argv[1], sys.argv[2], int(sys.argv[3])

    async def main():
        sys.stdin.readline()  # go: open the (maybe fresh) database together with the other process
        ledger = await Ledger.open(URL)
        async with anyio.create_task_group() as tasks:
            for _ in range(5):
                tasks.start_soon(ledger.plan_record, "org", "warm-up")  # open pooled connections first
        print("ready", flush=True)
        sys.stdin.readline()  # go: race
        plans, claims, seen = [], [], set()

        async def plan(i):
            use = await ledger.consume_plan("org", "the-plan", attempt_id=f"{NAME}-{i}", accelerator_id="a", parameters_hash="h")
            if use.consumed:
                plans.append(use.record.attempt_id)
            else:
                seen.add(use.record.attempt_id)

        async def claim(i):
            if await ledger.claim_job("org", "the-job", attempt_id=f"{NAME}-{i}"):
                claims.append(f"{NAME}-{i}")

        began = time.time()
        async with anyio.create_task_group() as tasks:
            for i in range(CALLS):
                tasks.start_soon(plan, i)
                tasks.start_soon(claim, i)
        ended = time.time()
        await ledger.aclose()
        print(json.dumps({"plans": plans, "claims": claims, "seen": sorted(seen), "began": began, "ended": ended}))

    anyio.run(main)
    """
)


async def test_an_attempt_and_its_audit_record_are_written_together_and_a_refused_one_leaves_none(ledger: Ledger) -> None:
    attempt = Attempt("a1", ORG, "stdio", "acc", False, "h", datetime.now(UTC), plan_job_id="p")
    await ledger.begin_attempt(attempt, audit=audit_record(kind="attempt", job_id=None, status=None))
    with pytest.raises(sa.exc.IntegrityError):  # the same attempt again: its record must not stay behind
        await ledger.begin_attempt(attempt, audit=audit_record(kind="attempt", note="second", job_id=None, status=None))
    await ledger.finish_attempt("a1", outcome="created", job_id="j1", audit=audit_record(note="done"))
    trail = await ledger.recent_audit()
    assert [(r.kind, r.note) for r in trail] == [("outcome", "done"), ("attempt", None)]
    assert await ledger.attempts_in_doubt(ORG) == [], "finished: created"


async def test_two_processes_racing_on_a_fresh_database_get_one_winner_per_plan_and_per_job(url: str) -> None:
    """Two server processes start together on a database nobody opened yet, then send 25 real
    runs each with the same plan, and 25 claims each of the same job, all at once."""
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER, url, name, "25"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for name in ("p1", "p2")
    ]
    try:
        for step in ("open", "race"):
            for racer in racers:
                assert racer.stdin is not None
                racer.stdin.write(f"{step}\n")
                racer.stdin.flush()
            if step == "open":
                for racer in racers:
                    assert racer.stdout is not None
                    assert racer.stdout.readline().strip() == "ready", "a racer could not open the ledger"
        results = [json.loads(racer.communicate(timeout=120)[0]) for racer in racers]
    finally:
        for racer in racers:
            racer.kill()
    assert all(racer.returncode == 0 for racer in racers)
    winners = [w for r in results for w in r["plans"]]
    claimers = [c for r in results for c in r["claims"]]
    assert len(winners) == 1, f"the plan was consumed by {winners}"
    assert len(claimers) == 1, f"the job was claimed by {claimers}"
    assert {s for r in results for s in r["seen"]} == set(winners), "every loser was shown the winner"
    assert max(r["began"] for r in results) < min(r["ended"] for r in results), "the processes did race"


# --- Schema ---------------------------------------------------------------------------------


async def test_a_newer_schema_is_refused_without_touching_it(url: str) -> None:
    await (await Ledger.open(url)).aclose()
    await execute(url, "INSERT INTO schema_version (version) VALUES (99)")
    await execute(url, "DROP TABLE claims")
    understood = rf"schema version 99, newer than this release understands \({ledger_schema.SCHEMA_VERSION}\)"
    with pytest.raises(LedgerConfigError, match=understood):
        await Ledger.open(url)
    with pytest.raises(sa.exc.DBAPIError):
        await execute(url, "SELECT 1 FROM claims")  # the refusal created nothing


async def test_an_older_schema_is_upgraded_step_by_step(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    await (await Ledger.open(url)).aclose()
    current = ledger_schema.SCHEMA_VERSION
    steps: list[int] = []

    def to_next(db: sa.Connection) -> None:
        steps.append(current)
        db.execute(sa.text("CREATE TABLE added_next (x INTEGER)"))

    monkeypatch.setattr(ledger_schema, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(ledger_schema.MIGRATIONS, current, to_next)
    await (await Ledger.open(url)).aclose()
    await (await Ledger.open(url)).aclose()
    assert steps == [current], "upgraded once, then found current"
    await execute(url, "INSERT INTO added_next (x) VALUES (1)")

    monkeypatch.setattr(ledger_schema, "SCHEMA_VERSION", current + 2)
    with pytest.raises(
        LedgerConfigError, match=f"schema version {current + 1}, which this release cannot upgrade to {current + 2}"
    ):
        await Ledger.open(url)


# --- URLs -----------------------------------------------------------------------------------


def test_urls_become_the_sqlalchemy_urls_the_ledger_connects_with() -> None:
    assert normalize_database_url("sqlite:////var/lib/x.sqlite3") == "sqlite:////var/lib/x.sqlite3"
    assert normalize_database_url(" sqlite+aiosqlite:////var/lib/x.sqlite3 ") == "sqlite:////var/lib/x.sqlite3"
    assert normalize_database_url("sqlite:///~/l.sqlite3") == f"sqlite:///{Path.home()}/l.sqlite3"
    assert normalize_database_url("postgresql://u@db.example:5433/ledger") == "postgresql+asyncpg://u@db.example:5433/ledger"
    assert normalize_database_url("postgres://u:p%40ss@h/l") == "postgresql+asyncpg://u:p%40ss@h/l"
    assert normalize_database_url("postgresql://test@/postgres?host=/tmp/x&port=55432") == (
        "postgresql+asyncpg://test@:55432/postgres?host=%2Ftmp%2Fx"
    )


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (f"mysql://u:{SECRET}@h/db", "must be a sqlite:// or postgresql://"),
        (f"postgresql+psycopg2://u:{SECRET}@h/db", "must be a sqlite:// or postgresql://"),
        (f"postgresql://u:{SECRET}@/db?port=five", "port that is not a number"),
        ("sqlite://", "must name a SQLite file"),
        ("sqlite:///:memory:", "must name a SQLite file"),
        ("sqlite:///relative.sqlite3", "four slashes"),
        (f"not a url {SECRET}", "is not a database URL"),
        (f"://:{SECRET}@", "is not a database URL"),
    ],
)
def test_unusable_urls_are_refused_without_echoing_them(bad: str, says: str) -> None:
    with pytest.raises(LedgerConfigError, match=says) as caught:
        normalize_database_url(bad)
    assert SECRET not in str(caught.value) and "IAC_MCP_DATABASE_URL" in str(caught.value)


async def test_the_default_is_sqlite_in_the_state_directory_created_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = default_database_url({"XDG_STATE_HOME": str(tmp_path / "state")})
    assert url == f"sqlite:///{tmp_path}/state/iac-mcp/ledger.sqlite3"
    await (await Ledger.open(url)).aclose()
    assert (tmp_path / "state" / "iac-mcp" / "ledger.sqlite3").is_file()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = f"sqlite:///{tmp_path}/home/.local/state/iac-mcp/ledger.sqlite3"
    assert default_database_url({}) == expected
    assert default_database_url({"XDG_STATE_HOME": "relative/dir"}) == expected, "relative XDG paths are ignored"


async def test_passwords_never_show_in_repr_or_errors(postgres_url: str) -> None:  # noqa: F811 - the fixture
    with_password = postgres_url.replace("test@", f"test:{SECRET}@")  # trust authentication accepts any
    ledger = await Ledger.open(with_password)
    try:
        assert SECRET not in repr(ledger) and SECRET not in ledger.url_for_display and "***" in ledger.url_for_display
        assert await consume(ledger, "p", "a1")
    finally:
        await ledger.aclose()
    address, query = with_password.split("?")
    no_such_database = f"{address.rsplit('/', 1)[0]}/missing?{query}"
    with pytest.raises(LedgerConfigError, match=r"cannot be opened \(.*does not exist") as caught:
        await Ledger.open(no_such_database)
    assert SECRET not in str(caught.value) and "***" in str(caught.value)
    with pytest.raises(LedgerConfigError) as unreachable:
        await Ledger.open(f"postgresql://u:{SECRET}@127.0.0.1:1/db")
    assert SECRET not in str(unreachable.value) and "***" in str(unreachable.value)


async def test_an_unwritable_sqlite_directory_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(LedgerConfigError, match=r"directory .*file.* cannot be created \(Not a directory\)"):
        await Ledger.open(f"sqlite:///{tmp_path / 'file' / 'sub' / 'ledger.sqlite3'}")
