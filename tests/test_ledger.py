"""The ledger on SQLite and on a real PostgreSQL: atomic guards, across processes and restarts."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from postgres_support import postgres_cluster, postgres_url  # noqa: F401 - fixtures

from iac_mcp.ledger import Attempt, AuditRecord, Ledger, LedgerConfigError, default_database_url, normalize_database_url

pytestmark = pytest.mark.anyio

ORG = "https://api.mypurecloud.ie"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


async def test_a_plan_is_consumed_once_and_the_loser_sees_the_record(url: str) -> None:
    ledger = await Ledger.open(url)
    try:
        first = await ledger.consume_plan(ORG, "plan-1", attempt_id="a1", accelerator_id="acc", parameters_hash="h")
        second = await ledger.consume_plan(ORG, "plan-1", attempt_id="a2", accelerator_id="acc", parameters_hash="h")
        assert first.consumed and not second.consumed
        assert second.record.attempt_id == "a1" and second.record.state == "sending"
        await ledger.release_plan(ORG, "plan-1", attempt_id="a2")  # not the holder: nothing happens
        assert await ledger.plan_record(ORG, "plan-1") is not None
        await ledger.mark_plan_backed(ORG, "plan-1", attempt_id="a1", job_id="job-9")
        record = await ledger.plan_record(ORG, "plan-1")
        assert record is not None and record.state == "backed" and record.job_id == "job-9"
        other_org = await ledger.consume_plan("https://api.usw2.pure.cloud", "plan-1", attempt_id="a3", accelerator_id="acc", parameters_hash="h")
        assert other_org.consumed, "plans are per org"
    finally:
        await ledger.aclose()


async def test_a_released_plan_can_back_a_run_again(url: str) -> None:
    ledger = await Ledger.open(url)
    try:
        await ledger.consume_plan(ORG, "p", attempt_id="a1", accelerator_id="acc", parameters_hash="h")
        await ledger.release_plan(ORG, "p", attempt_id="a1")
        again = await ledger.consume_plan(ORG, "p", attempt_id="a2", accelerator_id="acc", parameters_hash="h")
        assert again.consumed
    finally:
        await ledger.aclose()


async def test_consumption_survives_a_restart(url: str) -> None:
    ledger = await Ledger.open(url)
    await ledger.consume_plan(ORG, "p", attempt_id="a1", accelerator_id="acc", parameters_hash="h")
    await ledger.mark_plan_in_doubt(ORG, "p", attempt_id="a1", reason="answer lost")
    await ledger.remember_submitter(ORG, "user-1")
    await ledger.aclose()
    reopened = await Ledger.open(url)
    try:
        record = await reopened.plan_record(ORG, "p")
        assert record is not None and record.state == "in_doubt"
        assert not (await reopened.consume_plan(ORG, "p", attempt_id="a9", accelerator_id="acc", parameters_hash="h")).consumed
        assert await reopened.remember_submitter(ORG, "user-2") == "user-1", "the first identity learned stays"
    finally:
        await reopened.aclose()


async def test_claims_and_rivals(url: str) -> None:
    ledger = await Ledger.open(url)
    now = datetime.now(timezone.utc)
    try:
        assert await ledger.claim_job(ORG, "j1", attempt_id="a1")
        assert not await ledger.claim_job(ORG, "j1", attempt_id="a2")
        assert await ledger.claimed(ORG, ["j1", "j2"]) == {"j1"}
        for attempt_id, started in (("a1", now), ("a2", now), ("stale", now - timedelta(hours=1))):
            await ledger.begin_attempt(Attempt(attempt_id, ORG, "stdio", "acc", True, "h", started))
        assert await ledger.rivals(ORG, "acc", True, attempt_id="a1") == 1, "a stale attempt does not count"
        await ledger.finish_attempt("a2", outcome="unknown", job_id=None)
        assert await ledger.rivals(ORG, "acc", True, attempt_id="a1") == 0
        assert [a.attempt_id for a in await ledger.attempts_in_doubt(ORG)] == ["a2"]
    finally:
        await ledger.aclose()


async def test_the_audit_trail_keeps_records_and_final_statuses(url: str) -> None:
    ledger = await Ledger.open(url)
    try:
        base = AuditRecord(
            kind="outcome", principal="token-abc", org=ORG, accelerator_id="acc", dry_run=False,
            parameters={"name": "VIP", "secret": "********"}, parameters_hash="h", plan_job_id="p", consent="accepted",
            job_id="j1", status="Queued",
        )
        first = await ledger.audit(base)
        await ledger.audit(AuditRecord(**{**base.__dict__, "id": None, "job_id": "j2", "kind": "attempt"}))
        await ledger.record_job_status(ORG, "j1", "Complete")
        records = await ledger.recent_audit(limit=10)
        assert [r.job_id for r in records] == ["j2", "j1"] and records[1].id == first
        assert records[1].status == "Complete" and records[1].parameters["secret"] == "********"
        json.dumps(records[0].to_json())
        future = datetime.now(timezone.utc) + timedelta(hours=1)
        assert await ledger.recent_audit(since=future) == []
    finally:
        await ledger.aclose()


RACE = textwrap.dedent(
    """
    import anyio, sys
    from iac_mcp.ledger import Ledger

    async def main():
        ledger = await Ledger.open(sys.argv[1])
        won = 0
        async def one(i):
            nonlocal won
            use = await ledger.consume_plan("org", "the-plan", attempt_id=f"{sys.argv[2]}-{i}", accelerator_id="a", parameters_hash="h")
            claimed = await ledger.claim_job("org", "the-job", attempt_id=f"{sys.argv[2]}-{i}")
            won += use.consumed + claimed * 1000
        async with anyio.create_task_group() as tasks:
            for i in range(25):
                tasks.start_soon(one, i)
        await ledger.aclose()
        print(won)

    anyio.run(main)
    """
)


async def test_two_processes_racing_for_one_plan_and_one_job_get_one_winner_each(url: str) -> None:
    opened = await Ledger.open(url)  # create the schema once, as a server would on start-up
    await opened.aclose()
    racers = [subprocess.Popen([sys.executable, "-c", RACE, url, name], stdout=subprocess.PIPE, text=True) for name in ("p1", "p2")]
    totals = [int(process.communicate(timeout=120)[0].strip()) for process in racers]
    assert sum(t % 1000 for t in totals) == 1, f"plan consumed {sum(t % 1000 for t in totals)} times"
    assert sum(t // 1000 for t in totals) == 1, f"job claimed {sum(t // 1000 for t in totals)} times"


def test_urls(tmp_path: Path) -> None:
    assert normalize_database_url("sqlite:////var/lib/x.sqlite3").drivername == "sqlite+aiosqlite"
    pg = normalize_database_url("postgresql://test@/db?host=/tmp/s&port=55432")
    assert pg.drivername == "postgresql+asyncpg" and pg.port == 55432 and pg.query == {"host": "/tmp/s"}
    for bad in ("mysql://u:hunter2-secret@h/db", "sqlite://", "not a url"):
        with pytest.raises(LedgerConfigError) as caught:
            normalize_database_url(bad)
        assert "hunter2-secret" not in str(caught.value) and "IAC_MCP_DATABASE_URL" in str(caught.value)
    assert default_database_url({"XDG_STATE_HOME": str(tmp_path)}).endswith(f"{tmp_path}/iac-mcp/ledger.sqlite3")


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.sqlite3'}"
    ledger = await Ledger.open(url)
    await ledger.aclose()
    import sqlite3

    with sqlite3.connect(tmp_path / "l.sqlite3") as db:
        db.execute("INSERT INTO schema_version VALUES (99)")
    with pytest.raises(LedgerConfigError, match="schema version 99"):
        await Ledger.open(url)


async def test_an_unreachable_database_is_a_configuration_error_without_the_password() -> None:
    with pytest.raises(LedgerConfigError) as caught:
        await Ledger.open("postgresql://u:hunter2-secret@127.0.0.1:1/db")
    assert "hunter2-secret" not in str(caught.value) and "***" in str(caught.value)
