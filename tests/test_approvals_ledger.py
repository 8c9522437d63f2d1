"""Approval records in the ledger, on SQLite and PostgreSQL: one request per plan, one decision
per person (races included), approvers on audit records, and the upgrade from version 1."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator

import anyio
import pytest
from postgres_support import postgres_cluster, postgres_url  # noqa: F401 - fixtures
from test_ledger import execute, url  # noqa: F401 - fixtures

from iac_mcp.ledger import AuditRecord, Ledger
from iac_mcp.ledger import schema as ledger_schema
from iac_mcp.logic.approvals import ApprovalRequest, Approver, Decision

pytestmark = pytest.mark.anyio

ALICE = Approver("11111111-1111-4111-8111-111111111111", "Alice Approver")
BOB = Approver("22222222-2222-4222-8222-222222222222", "Bob Approver")


@pytest.fixture
async def book(url: str) -> AsyncIterator[Ledger]:  # noqa: F811
    opened = await Ledger.open(url)
    try:
        yield opened
    finally:
        await opened.aclose()


def request(approval_id: str = "a1", plan: str = "plan-1", **changes: object) -> ApprovalRequest:
    values: dict[str, object] = {
        "approval_id": approval_id,
        "org": "https://api.mypurecloud.ie#prod",
        "profile": "prod",
        "org_label": "Production",
        "api_base": "https://api.mypurecloud.ie",
        "policy": "four-eyes",
        "plan_job_id": plan,
        "accelerator_id": "acc-1",
        "accelerator_name": "Simple Queue Module",
        "parameters_hash": "h" * 64,
        "parameters": {"queue_name": "VIP", "api_key": "********"},
        "to_add": 2,
        "to_change": 0,
        "to_destroy": 1,
        "resources": [("create", "genesyscloud_routing_queue.q"), ("destroy", "genesyscloud_flow.f")],
        "requester": "ops-bot",
        "requester_identity": None,
        "created_at": 1000.0,
        "expires_at": 4600.0,
    }
    return ApprovalRequest(**(values | changes))  # type: ignore[arg-type]


async def test_one_request_per_plan_whoever_asks_first(book: Ledger) -> None:
    first = await book.open_approval(request("a1"))
    second = await book.open_approval(request("a2", requester="someone-else"))
    assert first == second == request("a1"), "the second asker gets the first request, unchanged"
    assert await book.approval("a2") is None
    assert await book.approval("a1") == first
    assert await book.approval_for_plan("https://api.mypurecloud.ie#prod", "plan-1") == first
    assert await book.approval_for_plan("https://api.mypurecloud.ie#dev", "plan-1") is None, "bound to the org"
    other = await book.open_approval(request("b1", plan="plan-2"))
    assert other.approval_id == "b1"


async def test_one_decision_per_person_even_when_racing(book: Ledger) -> None:
    await book.open_approval(request())
    results: list[bool] = []

    async def approve(verdict: str) -> None:
        results.append(await book.decide("a1", Decision(ALICE, verdict, time.time())))  # type: ignore[arg-type]

    async with anyio.create_task_group() as group:
        for verdict in ("approved", "rejected", "approved", "approved"):
            group.start_soon(approve, verdict)
    assert sorted(results) == [False, False, False, True]
    assert await book.decide("a1", Decision(BOB, "approved", time.time()))
    decided = await book.decisions("a1")
    assert [d.approver for d in decided] == [ALICE, BOB]
    assert await book.decisions("unknown") == []


async def test_audit_records_name_their_approvers(book: Ledger) -> None:
    base = AuditRecord(
        kind="approval",
        principal="ops-bot",
        org="o",
        accelerator_id="acc",
        dry_run=False,
        parameters={"x": "1"},
        parameters_hash="h",
        plan_job_id="p",
        consent="approved",
    )
    await book.audit(dataclasses.replace(base, approvers=(ALICE, BOB)))
    await book.audit(dataclasses.replace(base, kind="attempt", consent="accepted"))
    plain, named = await book.recent_audit()
    assert named.approvers == (ALICE, BOB)
    assert plain.approvers == ()
    assert named.to_json()["approvers"] == [{"id": ALICE.id, "name": ALICE.name}, {"id": BOB.id, "name": BOB.name}]


async def test_a_version_1_ledger_is_upgraded_keeping_its_audit_trail(url: str) -> None:  # noqa: F811
    old = await Ledger.open(url)
    base = AuditRecord(
        kind="attempt", principal="p", org="o", accelerator_id="a", dry_run=True, parameters={}, parameters_hash="h",
        plan_job_id=None, consent="not-needed",
    )  # fmt: skip
    await old.audit(base)
    await old.aclose()
    # Take it back to version 1 as an older release laid it out.
    await execute(url, "DROP TABLE approval_decisions")
    await execute(url, "DROP TABLE approval_requests")
    await execute(url, "ALTER TABLE audit DROP COLUMN approvers")
    await execute(url, "UPDATE schema_version SET version = 1")
    upgraded = await Ledger.open(url)
    try:
        [kept] = await upgraded.recent_audit()
        assert kept.principal == "p" and kept.approvers == ()
        await upgraded.open_approval(request())
        assert await upgraded.decide("a1", Decision(ALICE, "approved", 1.0))
    finally:
        await upgraded.aclose()
    assert ledger_schema.SCHEMA_VERSION == 2
