"""The approval desk and its page over real HTTP: a loopback listener, a real sandbox signing
people in with PKCE, the ledger recording decisions, and every way a decision must be refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from approvals_support import Desk, decide, form_token_of, person, plan, running_desk, sandbox_org, sign_in
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.orgs import user_id
from iac_mcp.sandbox.serve import running_sandbox, serve_in_thread
from iac_mcp.sandbox.settings import SandboxSettings
from iac_mcp.server.approvals import WEBHOOK_SIGNATURE_HEADER, ApprovalOrg, Gate
from iac_mcp.transports.approval_pages import SESSION_COOKIE, form_token, seal

pytestmark = pytest.mark.anyio


@pytest.fixture
def genesys() -> Iterator[tuple[str, SandboxSettings, Any]]:
    """A sandbox over real HTTP whose default users sign in (alice, bob approve; eve only views)."""
    settings = SandboxSettings(job_duration=0)
    app = create_app(settings)
    with running_sandbox(app=app) as url:
        yield url, settings, app.state.sandbox


async def ask(desk: Desk, org: ApprovalOrg, job_id: str = "plan-job-1", principal: str = "ops-bot") -> Gate:
    return await desk.desk.gate(org, plan(desk.clock, job_id), principal=principal, request_base=None)


def user_tokens(state: Any) -> list[str]:
    return [token for token in state.tokens if token]


async def test_a_signed_in_approver_approves_and_the_gate_opens(
    genesys: tuple[str, SandboxSettings, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url, settings, state = genesys
    org = sandbox_org(url, settings)
    async with running_desk(org) as desk, person() as http:
        gate = await ask(desk, org)
        assert not gate.status.met and gate.status.state == "pending"
        assert gate.link.startswith("http://127.0.0.1:") and "/approvals/" in gate.link
        first = await http.get(gate.link)
        assert first.status_code == 200
        assert "Simple Queue Module" in first.text and "VIP &lt;b&gt;" in first.text and "<b>" not in first.text
        assert "Sign in with Genesys" in first.text and 'name="verdict"' not in first.text
        page = await sign_in(http, gate.link, "alice", "alice-sandbox")
        assert "Signed in as <strong>Alice Approver" in page.text
        done = await decide(http, gate.link, page, "approved")
        assert "Your approval is recorded." in done.text and "Approved" in done.text
        again = await ask(desk, org)
        assert again.status.met and [a.name for a in again.approvers] == ["Alice Approver"]
        assert again.request.approval_id == gate.request.approval_id, "one request per plan"
        [record] = await desk.ledger.recent_audit()
        assert record.kind == "approval" and record.consent == "approved"
        assert [a.name for a in record.approvers] == ["Alice Approver"] and record.plan_job_id == "plan-job-1"
        assert record.principal == "ops-bot"
        tokens = user_tokens(state)
        assert tokens, "the sandbox issued alice a user token"
        seen = caplog.text + json.dumps(record.to_json()) + done.text + page.text + "".join(http.cookies.values())
        assert not [t for t in tokens if t in seen], "the user token never shows"


async def test_a_viewer_cannot_approve_even_by_posting(genesys: tuple[str, SandboxSettings, Any]) -> None:
    url, settings, _ = genesys
    org = sandbox_org(url, settings)
    async with running_desk(org) as desk, person() as http:
        gate = await ask(desk, org)
        page = await sign_in(http, gate.link, "eve", "eve-sandbox")
        assert "You do not hold infrastructureascode:job:add" in page.text and 'name="verdict"' not in page.text
        # A form token is bound to the cookie, not to the button: forge the post anyway.
        token = form_token(desk.desk.page_key, http.cookies[SESSION_COOKIE])
        refused = await http.post(gate.link + "/decision", data={"form_token": token, "verdict": "approved"})
        assert refused.status_code == 409
        assert "Eve Viewer" in refused.text and "does not hold infrastructureascode:job:add" in refused.text
        assert not (await ask(desk, org)).status.met
        assert await desk.ledger.decisions(gate.request.approval_id) == []


async def test_a_rejection_is_final(genesys: tuple[str, SandboxSettings, Any]) -> None:
    url, settings, _ = genesys
    org = sandbox_org(url, settings)
    async with running_desk(org) as desk, person() as bob, person() as alice:
        gate = await ask(desk, org)
        rejected = await decide(bob, gate.link, await sign_in(bob, gate.link, "bob", "bob-sandbox"), "rejected")
        assert "Your rejection is recorded." in rejected.text and "Bob Approver" in rejected.text
        status = (await ask(desk, org)).status
        assert status.state == "rejected" and "Bob Approver" in status.reason
        late = await alice.get(gate.link + "/sign-in")
        assert late.status_code == 409 and "rejected" in late.text
        [record] = await desk.ledger.recent_audit()
        assert record.consent == "rejected" and record.approvers[0].name == "Bob Approver"


async def test_four_eyes_needs_two_different_people(genesys: tuple[str, SandboxSettings, Any]) -> None:
    url, settings, _ = genesys
    org = sandbox_org(url, settings, policy="four-eyes")
    async with running_desk(org) as desk, person() as alice, person() as bob:
        gate = await ask(desk, org)
        page = await sign_in(alice, gate.link, "alice", "alice-sandbox")
        await decide(alice, gate.link, page, "approved")
        status = (await ask(desk, org)).status
        assert status.state == "pending" and status.needed == 1 and "a second, different person" in status.reason
        page = await alice.get(gate.link)
        assert 'name="verdict"' not in page.text and "each person decides once" in page.text
        token = form_token(desk.desk.page_key, alice.cookies[SESSION_COOKIE])  # post anyway, as a script would
        twice = await alice.post(gate.link + "/decision", data={"form_token": token, "verdict": "approved"})
        assert twice.status_code == 409 and "Alice Approver" in twice.text and "one decision per person" in twice.text
        assert not (await ask(desk, org)).status.met, "the same person twice is not four eyes"
        await decide(bob, gate.link, await sign_in(bob, gate.link, "bob", "bob-sandbox"), "approved")
        final = (await ask(desk, org)).status
        assert final.met and {a.name for a in final.approvals} == {"Alice Approver", "Bob Approver"}


async def test_four_eyes_refuses_the_requester_when_known(genesys: tuple[str, SandboxSettings, Any]) -> None:
    url, settings, _ = genesys
    org = sandbox_org(url, settings, policy="four-eyes")

    alice_id = user_id(next(u for u in settings.served_users if u.username == "alice"))
    async with running_desk(org) as desk, person() as alice:
        gate = await ask(desk, org, principal=f"oauth:{alice_id}")
        assert gate.status.needed == 1
        refused = await decide(alice, gate.link, await sign_in(alice, gate.link, "alice", "alice-sandbox"), "approved")
        assert refused.status_code == 409 and "asked for this run" in refused.text
        assert not (await ask(desk, org, principal=f"oauth:{alice_id}")).status.met


async def test_an_expired_approval_request_takes_no_decision_and_opens_nothing(
    genesys: tuple[str, SandboxSettings, Any],
) -> None:
    url, settings, _ = genesys
    org = sandbox_org(url, settings)
    async with running_desk(org) as desk, person() as alice:
        gate = await ask(desk, org)
        page = await sign_in(alice, gate.link, "alice", "alice-sandbox")
        desk.clock.offset = 3601
        late = await decide(alice, gate.link, page, "approved")
        assert late.status_code == 401, "the sign-in outlived its ten minutes too"
        status = (await ask(desk, org)).status
        assert status.state == "expired" and "expired" in status.reason
        desk.clock.offset = 0
        await decide(alice, gate.link, page, "approved")
        desk.clock.offset = 3601
        assert not (await ask(desk, org)).status.met, "an approval dies with its plan"


async def test_an_approval_covers_its_own_plan_only(genesys: tuple[str, SandboxSettings, Any]) -> None:
    url, settings, _ = genesys
    org = sandbox_org(url, settings)
    async with running_desk(org) as desk, person() as alice:
        gate = await ask(desk, org, "plan-a")
        await decide(alice, gate.link, await sign_in(alice, gate.link, "alice", "alice-sandbox"), "approved")
        other = await ask(desk, org, "plan-b")
        assert not other.status.met and other.link != gate.link
        # Another session's cookie for plan A does not sign anyone in on plan B's page.
        page = await alice.get(other.link)
        assert "Sign in with Genesys" in page.text and 'name="verdict"' not in page.text


async def test_forged_replayed_and_cross_site_posts_record_nothing(genesys: tuple[str, SandboxSettings, Any]) -> None:
    url, settings, _ = genesys
    org = sandbox_org(url, settings)
    async with running_desk(org) as desk, person() as alice, person() as mallory:
        gate = await ask(desk, org)
        page = await sign_in(alice, gate.link, "alice", "alice-sandbox")
        token = form_token_of(page)
        cross = await alice.post(
            gate.link + "/decision", data={"form_token": token, "verdict": "approved"}, headers={"Origin": "https://evil.example"}
        )
        assert cross.status_code == 403
        no_token = await alice.post(gate.link + "/decision", data={"verdict": "approved"})
        assert no_token.status_code == 403
        stolen_token = await mallory.post(gate.link + "/decision", data={"form_token": token, "verdict": "approved"})
        assert stolen_token.status_code == 401, "a form token without its cookie is nothing"
        forged = seal(
            b"not the key", SESSION_COOKIE, {"a": gate.request.approval_id, "o": org.key, "u": "x", "n": "X", "m": True}
        )
        mallory.cookies.set(SESSION_COOKIE, forged, path="/approvals")
        assert (await mallory.post(gate.link + "/decision", data={"form_token": "0", "verdict": "approved"})).status_code == 401
        assert await desk.ledger.decisions(gate.request.approval_id) == []
        rebinding = await alice.get(gate.link, headers={"Host": "attacker.example"})
        assert rebinding.status_code == 421
        # A callback replayed (the same code and state again) signs nobody in.
        start = await mallory.get(gate.link + "/sign-in")
        replay = await mallory.get(gate.link.split("/approvals/")[0] + "/approvals/callback?code=abc&state=" + "x" * 43)
        assert start.status_code == 303 and replay.status_code == 400 and "not started in this browser" in replay.text


async def test_the_webhook_announces_a_new_request_signed(genesys: tuple[str, SandboxSettings, Any]) -> None:
    received: list[tuple[bytes, str]] = []

    async def hook(request: Request) -> Response:
        received.append((await request.body(), request.headers.get(WEBHOOK_SIGNATURE_HEADER, "")))
        return PlainTextResponse("ok")

    url, settings, _ = genesys
    key = b"webhook-key-0123456789abcdef0123"
    with ExitStack() as stack:
        receiver = stack.enter_context(serve_in_thread(Starlette(routes=[Route("/hook", hook, methods=["POST"])])))
        org = sandbox_org(url, settings, webhook=receiver + "/hook")
        async with running_desk(org, webhook_key=key) as desk:
            gate = await ask(desk, org)
            await ask(desk, org)  # asking again announces nothing new
            async with httpx.AsyncClient() as http:  # the announcement runs in the background: wait for it
                for _ in range(200):
                    if received:
                        break
                    await http.get(receiver + "/missing")
    [(body, signature)] = received
    assert hmac.compare_digest(signature, "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest())
    announced = json.loads(body)
    assert announced["link"] == gate.link and announced["plan"]["to_add"] == 1
    assert announced["parameters"]["api_key"] == "********" and announced["org"]["profile"] == "dev"
