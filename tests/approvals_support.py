"""Building blocks for the approval tests: a desk over a real-HTTP sandbox, and a person's flow.

The person is played by httpx with a cookie jar (the browser test plays it in Chromium):
open the link, sign in at the sandbox's login form, come back, press a button.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult
from servers import fresh_ledger_url, text_of

from iac_mcp.demo import example_arguments
from iac_mcp.genesys.config import GenesysConfig
from iac_mcp.ledger import AuditRecord, Ledger
from iac_mcp.sandbox.settings import SandboxSettings
from iac_mcp.server.approvals import ApprovalDesk, ApprovalOrg, PlanForApproval
from iac_mcp.transports.approval_pages import loopback_listener

SIGNING_KEY = b"approval-test-signing-key-0123456789"
FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


class Clock:
    """Wall-clock seconds that a test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def sandbox_org(url: str, settings: SandboxSettings, *, policy: str = "signed", webhook: str | None = None) -> ApprovalOrg:
    """The sandbox's first org as a profile would describe it: its public sign-in client approves."""
    org = settings.served_orgs[0]
    config = GenesysConfig.for_sandbox(url, org.client_id, org.client_secret)
    return ApprovalOrg(
        key=f"{url}#dev",
        profile="dev",
        label="Development",
        policy=policy,
        config=config,
        client_id=org.signin_client_id,
        webhook=webhook,
    )


def plan(clock: Clock, job_id: str = "plan-job-1", *, ttl: float = 3600.0) -> PlanForApproval:
    return PlanForApproval(
        plan_job_id=job_id,
        accelerator_id="acc-queue",
        accelerator_name="Simple Queue Module",
        parameters_hash="a" * 64,
        parameters={"queue_name": "VIP <b>", "api_key": "********"},
        to_add=1,
        to_change=0,
        to_destroy=0,
        resources=[("create", "genesyscloud_routing_queue.queue")],
        expires_at=clock() + ttl,
    )


@dataclass
class Desk:
    desk: ApprovalDesk
    ledger: Ledger
    clock: Clock
    orgs: dict[str, ApprovalOrg] = field(default_factory=dict)


@asynccontextmanager
async def running_desk(*orgs: ApprovalOrg, webhook_key: bytes | None = None) -> AsyncIterator[Desk]:
    """A desk on a fresh ledger, its pages on a loopback listener."""
    clock = Clock()
    async with AsyncExitStack() as stack:
        ledger = await Ledger.open(fresh_ledger_url())
        stack.push_async_callback(ledger.aclose)
        desk = ApprovalDesk(SIGNING_KEY, webhook_key=webhook_key, listener=loopback_listener(), clock=clock)
        await stack.enter_async_context(desk.serving(orgs, ledger))
        yield Desk(desk, ledger, clock, {org.key: org for org in orgs})


def person() -> httpx.AsyncClient:
    """A browser's worth of HTTP: a cookie jar, no redirects followed silently."""
    return httpx.AsyncClient(timeout=10, follow_redirects=False, trust_env=False)


async def sign_in(http: httpx.AsyncClient, link: str, username: str, password: str) -> httpx.Response:
    """From the approval link through the sandbox's login form and back; the page as then shown."""
    start = await http.get(link + "/sign-in")
    assert start.status_code == 303, start.text
    form = await http.get(start.headers["location"])
    assert form.status_code == 200, form.text
    token = FORM_TOKEN.search(form.text)
    assert token is not None
    authorize = start.headers["location"].split("?")[0]
    posted = await http.post(authorize, data={"form_token": token.group(1), "username": username, "password": password})
    assert posted.status_code == 303, posted.text
    back = await http.get(posted.headers["location"])
    if back.status_code != 303:
        return back
    return await http.get(urljoin(link, back.headers["location"]))


def form_token_of(page: httpx.Response) -> str:
    found = FORM_TOKEN.search(page.text)
    assert found is not None, page.text
    return found.group(1)


async def decide(http: httpx.AsyncClient, link: str, page: httpx.Response, verdict: str) -> httpx.Response:
    """Press Approve or Reject on the page; the page as then shown."""
    answer = await http.post(link + "/decision", data={"form_token": form_token_of(page), "verdict": verdict})
    if answer.status_code != 303:
        return answer
    return await http.get(urljoin(link, answer.headers["location"]))


# --- A real browser ---------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Debian's Chromium, headless, driven by Playwright, with a fresh profile (skips where absent)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is absent (.ci/run installs it)")
    from playwright.async_api import async_playwright

    profile = tempfile.mkdtemp(prefix="iac-mcp-chromium-")
    try:
        async with async_playwright() as driver:
            context = await driver.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), args=FLAGS, headless=True, viewport={"width": 420, "height": 1100}
            )
            try:
                yield context
            finally:
                await context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


async def sign_in_in_browser(page: Any, link: str, username: str, password: str) -> None:
    """In the browser: open the link, sign in at the sandbox's login form, come back."""
    await page.goto(link)
    await page.get_by_role("link", name="Sign in with Genesys to decide").click()
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(link)


# --- Through MCP ------------------------------------------------------------------------------


@dataclass
class Genesys:
    """A sandbox over real HTTP: the MCP server's upstream, and where people sign in."""

    url: str
    settings: SandboxSettings
    state: Any


@dataclass
class Yes:
    """An agent loop that accepts every elicitation: forms with a JSON true, links unopened."""

    asked: list[ElicitRequestParams] = field(default_factory=list)

    async def __call__(self, _: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.asked.append(params)
        if params.mode == "url":
            return ElicitResult(action="accept")
        return ElicitResult(action="accept", content={"confirm": True})

    @property
    def links(self) -> list[str]:
        return [p.url for p in self.asked if p.mode == "url"]

    @property
    def forms(self) -> list[ElicitRequestParams]:
        return [p for p in self.asked if p.mode != "url"]


@dataclass
class Rig:
    client: Client
    genesys: Genesys
    clock: Clock
    ledger_url: str
    accelerator_id: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)

    async def plan(self, **changes: Any) -> str:
        """A dry run of the queue module (with `changes`), waited for: its plan token."""
        if not self.accelerator_id:
            listing = await self.client.call_tool("list-accelerators", {"name": "queue"})
            self.accelerator_id = listing.structured_content["accelerators"][0]["id"]
            described = await self.client.call_tool("describe-accelerator", {"accelerator_id": self.accelerator_id})
            self.parameters = example_arguments(described.structured_content["parameters_schema"])
        planned = await self.client.call_tool(
            "submit-job", {"accelerator_id": self.accelerator_id, "parameters": {**self.parameters, **changes}}
        )
        assert not planned.is_error, text_of(planned)
        waited = await self.client.call_tool("get-job", {"job_id": planned.structured_content["job"]["id"], "wait_seconds": 10})
        assert waited.structured_content["succeeded"], text_of(waited)
        return str(planned.structured_content["plan_token"])

    async def apply(self, token: str, **changes: Any) -> CallToolResult:
        arguments = {
            "accelerator_id": self.accelerator_id,
            "parameters": {**self.parameters, **changes},
            "dry_run": False,
            "plan_token": token,
        }
        return await self.client.call_tool("submit-job", arguments)

    async def audit(self) -> list[AuditRecord]:
        book = await Ledger.open(self.ledger_url)
        try:
            return list(await book.recent_audit(limit=100))
        finally:
            await book.aclose()


def pending(result: CallToolResult) -> dict[str, Any]:
    """The approval of a real run refused for now: nothing sent, the link and the next step."""
    assert not result.is_error, text_of(result)
    content = result.structured_content
    assert content["submitted"] is False and content.get("job") is None and content["consent"] == "approval-pending"
    approval = content["approval"]
    assert approval["state"] == "pending" and approval["link"] in text_of(result)
    assert approval["next_step"] == (
        "Send this link to an approver; call submit-job again with the same plan_token once approved."
    )
    return dict(approval)


def real_runs(genesys: Genesys) -> int:
    return sum(1 for job in genesys.state.jobs.values() if not job.dry_run)
