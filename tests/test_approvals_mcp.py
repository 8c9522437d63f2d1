"""Approvals end to end through a real MCP client, in both protocol eras: submit-job under a
`signed` or `four-eyes` profile, a sandbox over real HTTP signing people in, the approval
pages on a loopback listener, decisions in the ledger, and an agent that says yes to
everything it is asked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
from approvals_support import (
    SIGNING_KEY,
    Clock,
    Genesys,
    Rig,
    Yes,
    chromium,
    decide,
    form_token_of,
    pending,
    person,
    real_runs,
    sign_in,
    sign_in_in_browser,
)
from mcp import Client
from servers import ERAS, everything_in, fresh_ledger, fresh_ledger_url, server_settings, text_of

from iac_mcp.genesys.config import GenesysConfig
from iac_mcp.profiles import Profile
from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.serve import running_sandbox
from iac_mcp.sandbox.settings import SIGNIN_SUFFIX, SandboxSettings
from iac_mcp.server.app import OrgUpstream, build_server
from iac_mcp.server.approvals import SANDBOX_SIGNIN_SUFFIX, ApprovalDesk
from iac_mcp.settings import Approval, ConsentPolicy, Mode
from iac_mcp.transports.approval_pages import loopback_listener
from iac_mcp.upstream import genesys_client

pytestmark = pytest.mark.anyio


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def genesys() -> Iterator[Genesys]:
    settings = SandboxSettings(job_duration=0)
    app = create_app(settings)
    with running_sandbox(app=app) as url:
        yield Genesys(url, settings, app.state.sandbox)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with chromium() as context:
        yield context


@asynccontextmanager
async def rig(genesys: Genesys, era: str, policy: Approval = Approval.SIGNED, **options: Any) -> AsyncIterator[Rig]:
    """The MCP server over the sandbox org as a profile `dev` with `policy`, a client in `era`."""
    org = genesys.settings.served_orgs[0]
    config = GenesysConfig.for_sandbox(genesys.url, org.client_id, org.client_secret)
    profile = Profile("dev", "Development", Mode.APPLY, approval=policy)
    clock = Clock()
    ledger_url = fresh_ledger_url()
    server = build_server(
        [OrgUpstream(profile, partial(genesys_client, config))],
        options.pop("settings", server_settings()),
        ledger=fresh_ledger(ledger_url),
        signing_key=SIGNING_KEY,
        desk=ApprovalDesk(SIGNING_KEY, listener=loopback_listener(), clock=clock),
    )
    async with Client(server, mode=era, **options) as client:
        yield Rig(client, genesys, clock, ledger_url)


def test_the_sandbox_sign_in_client_convention_is_the_sandbox_s() -> None:
    assert SANDBOX_SIGNIN_SUFFIX == SIGNIN_SUFFIX


async def test_an_agent_that_accepts_everything_cannot_apply_until_a_person_approves_in_chromium(
    genesys: Genesys, era: str, browser: Any
) -> None:
    yes = Yes()
    async with rig(genesys, era, elicitation_callback=yes) as r:
        token = await r.plan()
        first = pending(await r.apply(token))
        again = pending(await r.apply(token))
        assert again["approval_id"] == first["approval_id"], "one approval request per plan"
        assert real_runs(genesys) == 0 and not yes.forms, "no consent question is put: its answer would not count"
        assert yes.links == [first["link"], first["link"]], "the link was offered as a URL elicitation"

        page = await browser.new_page()
        await sign_in_in_browser(page, first["link"], "alice", "alice-sandbox")
        await page.get_by_role("button", name="Approve").click()
        await page.wait_for_url(first["link"] + "?decided=approved")

        applied = await r.apply(token)
        assert not applied.is_error, text_of(applied)
        content = applied.structured_content
        assert content["submitted"] is True and content["job"]["dry_run"] is False and content["consent"] == "approved"
        assert content["approval"]["state"] == "approved" and content["approval"]["approvers"][0].startswith("Alice Approver")
        assert "approved by Alice Approver" in text_of(applied)
        assert real_runs(genesys) == 1
        reused = await r.apply(token)
        assert reused.is_error and "already backed the real run" in text_of(reused), "the plan backs one run, approved or not"
        trail = await r.audit()
    real = [rec for rec in trail if not rec.dry_run and rec.kind in ("attempt", "outcome") and rec.consent == "approved"]
    assert {rec.kind for rec in real} == {"attempt", "outcome"}
    assert all([a.name for a in rec.approvers] == ["Alice Approver"] for rec in real)
    [decision] = [rec for rec in trail if rec.kind == "approval"]
    assert decision.consent == "approved" and [a.name for a in decision.approvers] == ["Alice Approver"]
    tokens = [t for t in genesys.state.tokens if t]
    assert tokens and not [t for t in tokens if any(t in str(rec.to_json()) for rec in trail)], "no user token in the audit"


async def test_neither_the_plan_token_waiver_nor_a_client_without_elicitation_skips_approval(genesys: Genesys, era: str) -> None:
    async with rig(genesys, era, settings=server_settings(consent=ConsentPolicy.PLAN_TOKEN)) as r:
        token = await r.plan()
        approval = pending(await r.apply(token))
        assert approval["link"].startswith("http://127.0.0.1:") and "/approvals/" in approval["link"]
        assert real_runs(genesys) == 0


async def test_a_viewer_cannot_approve_and_the_run_stays_refused(genesys: Genesys, era: str) -> None:
    async with rig(genesys, era) as r, person() as eve:
        token = await r.plan()
        link = pending(await r.apply(token))["link"]
        page = await sign_in(eve, link, "eve", "eve-sandbox")
        assert 'name="verdict"' not in page.text
        forced = await eve.post(link + "/decision", data={"form_token": "x" * 64, "verdict": "approved"})
        assert forced.status_code == 403
        assert "waiting for 1 more approval" in pending(await r.apply(token))["reason"]
        assert real_runs(genesys) == 0


async def test_a_rejection_refuses_the_run_for_good(genesys: Genesys, era: str) -> None:
    async with rig(genesys, era) as r, person() as bob, person() as alice:
        token = await r.plan()
        link = pending(await r.apply(token))["link"]
        await decide(bob, link, await sign_in(bob, link, "bob", "bob-sandbox"), "rejected")
        late = await alice.get(link + "/sign-in")
        assert late.status_code == 409 and "This run is rejected: Bob Approver" in late.text, "nobody can approve it now"
        refused = await r.apply(token)
        assert refused.is_error and real_runs(genesys) == 0
        assert "Real run refused: Bob Approver (user " in text_of(refused)
        assert "rejected this run" in text_of(refused) and "the decision is final" in text_of(refused)
        assert "Nothing was sent. Next: run a new dry run" in text_of(refused)


async def test_an_expired_approval_refuses_the_run(genesys: Genesys, era: str) -> None:
    async with rig(genesys, era) as r, person() as alice:
        token = await r.plan()
        link = pending(await r.apply(token))["link"]
        await decide(alice, link, await sign_in(alice, link, "alice", "alice-sandbox"), "approved")
        r.clock.offset = 3601  # the approval dies with the plan token's hour
        refused = await r.apply(token)
        assert refused.is_error and real_runs(genesys) == 0
        assert "the approval request expired at" in text_of(refused) and "an approval never outlives its plan" in text_of(refused)


async def test_an_approval_of_another_plan_does_not_cover_this_one(genesys: Genesys, era: str) -> None:
    async with rig(genesys, era) as r, person() as alice:
        approved_token = await r.plan()
        link = pending(await r.apply(approved_token))["link"]
        await decide(alice, link, await sign_in(alice, link, "alice", "alice-sandbox"), "approved")
        name = next(k for k, v in r.parameters.items() if isinstance(v, str))
        other_token = await r.plan(**{name: "Another queue"})
        other = pending(await r.apply(other_token, **{name: "Another queue"}))
        assert other["link"] != link and not other.get("approvers")
        swapped = await r.apply(approved_token, **{name: "Another queue"})
        assert swapped.is_error and "plan_token was refused" in text_of(swapped), "a token covers its own input only"
        assert real_runs(genesys) == 0


async def test_four_eyes_refuses_the_same_person_twice_and_needs_a_second(genesys: Genesys, era: str) -> None:
    async with rig(genesys, era, Approval.FOUR_EYES) as r, person() as alice, person() as bob:
        token = await r.plan()
        link = pending(await r.apply(token))["link"]
        page = await sign_in(alice, link, "alice", "alice-sandbox")
        await decide(alice, link, page, "approved")
        twice = await alice.post(link + "/decision", data={"form_token": form_token_of(page), "verdict": "approved"})
        assert twice.status_code == 409 and "one decision per person (four-eyes needs a different person)" in twice.text
        still = pending(await r.apply(token))
        assert "waiting for 1 more approval(s) by a second, different person" in still["reason"]
        assert real_runs(genesys) == 0
        await decide(bob, link, await sign_in(bob, link, "bob", "bob-sandbox"), "approved")
        applied = await r.apply(token)
        assert not applied.is_error and applied.structured_content["submitted"] is True, text_of(applied)
        trail = await r.audit()
    [outcome] = [rec for rec in trail if rec.kind == "outcome" and not rec.dry_run]
    assert {a.name for a in outcome.approvers} == {"Alice Approver", "Bob Approver"}
    assert "sandbox-secret" not in everything_in(applied)
