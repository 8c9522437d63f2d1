"""The approval flow in a real browser: headless Chromium (Debian's, driven by Playwright)
opens the link, signs in at the sandbox's login form, reviews the plan and approves; a
viewer cannot. The README's screenshot is taken here."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from approvals_support import chromium, plan, running_desk, sandbox_org
from approvals_support import sign_in_in_browser as sign_in

from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.serve import running_sandbox
from iac_mcp.sandbox.settings import SandboxSettings

pytestmark = pytest.mark.anyio

SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "approval-page.png"
"""The README's screenshot: retaken into the repository with IAC_MCP_UPDATE_SCREENSHOTS=1, else into
the test's own folder, so an ordinary run leaves the checkout as it found it."""


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with chromium() as context:
        yield context


@pytest.fixture
def genesys() -> Iterator[tuple[str, SandboxSettings]]:
    settings = SandboxSettings(job_duration=0)
    with running_sandbox(app=create_app(settings)) as url:
        yield url, settings


async def test_a_person_signs_in_reviews_and_approves_in_chromium(
    browser: Any, genesys: tuple[str, SandboxSettings], tmp_path: Path
) -> None:
    url, settings = genesys
    screenshot = SCREENSHOT if os.environ.get("IAC_MCP_UPDATE_SCREENSHOTS") else tmp_path / SCREENSHOT.name
    org = sandbox_org(url, settings, policy="four-eyes")
    async with running_desk(org) as desk:
        gate = await desk.desk.gate(org, plan(desk.clock), principal="ops-bot", request_base=None)
        page = await browser.new_page()
        await sign_in(page, gate.link, "alice", "alice-sandbox")
        assert await page.get_by_text("Signed in as Alice Approver").count() == 1
        assert await page.get_by_role("cell", name="VIP <b>").count() == 1, "hostile text shown as text"
        await page.screenshot(path=str(screenshot), full_page=True)  # the README's: the plan under review
        assert screenshot.stat().st_size > 10_000, "the screenshot is empty"
        await page.get_by_role("button", name="Approve").click()
        await page.wait_for_url(gate.link + "?decided=approved")
        texts = " ".join(await page.get_by_role("status").all_inner_texts())
        assert "Your approval is recorded." in texts and "a second, different person" in texts
        status = (await desk.desk.gate(org, plan(desk.clock), principal="ops-bot", request_base=None)).status
        assert not status.met and [a.name for a in status.approvals] == ["Alice Approver"]

        # Four eyes: Bob, in a browser of his own, gives the second approval.
        await browser.clear_cookies()
        second = await browser.new_page()
        await sign_in(second, gate.link, "bob", "bob-sandbox")
        await second.get_by_role("button", name="Approve").click()
        await second.wait_for_url(gate.link + "?decided=approved")
        final = (await desk.desk.gate(org, plan(desk.clock), principal="ops-bot", request_base=None)).status
        assert final.met and {a.name for a in final.approvals} == {"Alice Approver", "Bob Approver"}


async def test_a_viewer_sees_the_plan_but_no_buttons(browser: Any, genesys: tuple[str, SandboxSettings]) -> None:
    url, settings = genesys
    org = sandbox_org(url, settings)
    async with running_desk(org) as desk:
        gate = await desk.desk.gate(org, plan(desk.clock), principal="ops-bot", request_base=None)
        page = await browser.new_page()
        await sign_in(page, gate.link, "eve", "eve-sandbox")
        assert await page.get_by_role("alert").inner_text() == (
            "You do not hold infrastructureascode:job:add in this org, so you cannot approve or reject its real runs."
        )
        assert await page.get_by_role("button", name="Approve").count() == 0
        assert not (await desk.desk.gate(org, plan(desk.clock), principal="ops-bot", request_base=None)).status.met
