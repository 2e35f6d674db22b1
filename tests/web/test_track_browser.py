"""The customer's tracking page on a phone, in Debian's Chromium: the ETA moves live, the survey
appears once the work is done, and the rating shows on the admin's feedback page.

On SQLite only, like the other page tests (see test_board_browser for why).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from routeboard.payments.provider import MemoryProvider
from tests.availability.test_eta import fix
from tests.conftest import Env
from tests.events.live import serving
from tests.flows import START, act, photo, sign, to_state
from tests.web.conftest import signed_in
from tests.web.test_board_browser import noteworthy

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page, ViewportSize

pytestmark = pytest.mark.anyio

PHONE: ViewportSize = {"width": 360, "height": 640}
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
DALLAS = ZoneInfo("America/Chicago")
MCKINNEY = (33.1972, -96.6398)
NEARBY = (33.13, -96.78)  # ~4 km from the test site


@asynccontextmanager
async def phone_page(
    browser: Browser, base: str, path: str, *, ready: bool = True
) -> AsyncIterator[Page]:
    """A phone opening the link from its messages: no sign-in, no cookies."""
    from playwright.async_api import expect

    context = await browser.new_context(
        viewport=PHONE, base_url=base, has_touch=True, is_mobile=True,
        timezone_id="America/Chicago",
    )  # fmt: skip
    problems: list[str] = []
    try:
        page = await context.new_page()
        page.on("console", lambda m: problems.append(m.text) if noteworthy(m) else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        await page.goto(path)
        if ready:  # the tracking page says when its first read is drawn
            await expect(page.locator("body")).to_have_attribute("data-ready", "true")
        yield page
        assert problems == []
    finally:
        await context.close()


def clock(at: datetime) -> str:
    """How the page writes a time: 9:42 AM, in Dallas."""
    return at.astimezone(DALLAS).strftime("%-I:%M %p")


async def wait_for_reads(page: Page, token: str, count: int) -> None:
    await page.wait_for_function(
        """([path, count]) => performance.getEntriesByType('resource')
             .filter(e => new URL(e.name).pathname === path).length >= count""",
        arg=[f"/api/v1/track/{token}", count],
    )


async def eta_of(env: Env, job_id: int) -> datetime:
    [(eta,)] = await env.sql("SELECT eta FROM jobs WHERE id = :j", j=job_id)
    return eta if isinstance(eta, datetime) else datetime.fromisoformat(eta)


@SQLITE_ONLY
async def test_the_eta_moves_live_then_the_survey_and_the_rating_reaches_the_admin(
    env: Env, browser: Browser
) -> None:
    from playwright.async_api import expect

    jid = await to_state(env, "scheduled", start=START)
    env.clock.now = START - timedelta(minutes=45)
    r = await act(env, jid, "start_travel", lat=MCKINNEY[0], lon=MCKINNEY[1])
    assert r.status_code == 200
    first_eta = await eta_of(env, jid)
    link = await env.client.post(f"/api/v1/jobs/{jid}/tracking-link", headers=env.h("dispatcher"))
    token = link.json()["token"]
    async with serving(env.app) as base, phone_page(browser, base, f"/track/{token}") as page:
        await expect(page.locator("#progress [aria-current=step]")).to_have_attribute(
            "data-step", "on_the_way"
        )
        await expect(page.locator("#eta")).to_contain_text(f"arriving around {clock(first_eta)}")
        await expect(page.locator("#live")).to_have_attribute("data-state", "live")
        await expect(page.locator("#survey")).to_be_hidden()
        # The stream opens with a snapshot, after which the page reads the job once more: let
        # that read finish first, so only the pushed estimate can move the ETA below.
        await wait_for_reads(page, token, 2)
        # Ten minutes later the phone reports from 4 km out: a new ETA, pushed to the page.
        env.clock.advance(minutes=10)
        await fix(env, "near", env.clock.now, NEARBY)
        new_eta = await eta_of(env, jid)
        assert clock(new_eta) != clock(first_eta)
        await expect(page.locator("#eta")).to_contain_text(
            f"arriving around {clock(new_eta)}", timeout=5000
        )
        # The work, through the technician's API; the page follows each step.
        assert (await act(env, jid, "start_work")).status_code == 200
        await expect(page.locator("#progress [aria-current=step]")).to_have_attribute(
            "data-step", "working"
        )
        for kind in ("before", "after"):
            assert (await photo(env, jid, kind)).status_code == 201
        assert (await sign(env, jid)).status_code == 201
        assert (await act(env, jid, "complete")).status_code == 200
        await expect(page.locator("#receipt")).to_be_visible()
        await expect(page.locator("#receipt-balance")).to_contain_text("$250.00")
        survey = page.locator("#survey")
        await expect(survey).to_be_visible()
        await expect(page.locator("#send-rating")).to_be_disabled()
        await page.locator("button[data-rating='4']").tap()
        await page.fill("#comment", "Quick and tidy, thanks Marco!")
        await page.locator("#send-rating").tap()
        await expect(page.locator("#survey-thanks")).to_be_visible()
        pdf = await page.request.get(await page.locator("#receipt-pdf").get_attribute("href") or "")
        assert pdf.headers["content-type"] == "application/pdf"

    [(rating, comment)] = await env.sql(
        "SELECT rating, comment FROM feedback WHERE job_id = :j", j=jid
    )
    assert (rating, comment) == (4, "Quick and tidy, thanks Marco!")
    async with (
        serving(env.app) as base,
        signed_in(browser, base, "admin", "/admin/feedback") as admin,
    ):
        row = admin.locator(f"#ratings tr[data-job-id='{jid}']")
        await expect(row).to_contain_text("Quick and tidy, thanks Marco!")
        await expect(row.locator(".rating")).to_have_text("4")
        await expect(row.locator(".mood")).to_have_text("positive")
        await expect(admin.locator("#average-rating .value")).to_have_text("4.00")
        await expect(admin.locator("svg.chart .mark")).not_to_have_count(0)


@SQLITE_ONLY
async def test_the_demo_card_checkout_takes_the_payment_like_the_webhook(
    env: Env, browser: Browser
) -> None:
    """The demo's card link opens a checkout page on the customer's phone; "Pay" settles the
    payment through the provider's signed webhook, once."""
    from playwright.async_api import expect

    env.app.state.payments = MemoryProvider()
    jid = await to_state(env, "completed", start=START)
    r = await env.client.post(
        f"/api/v1/jobs/{jid}/payments", json={"method": "card"}, headers=env.h("tech1")
    )
    assert r.status_code == 201, r.text
    path = "/pay/memory/" + str(r.json()["checkout_url"]).rsplit("/", 1)[1]
    async with serving(env.app) as base, phone_page(browser, base, path, ready=False) as page:
        await expect(page.locator("#amount")).to_have_text("250.00 USD")
        await page.locator("#pay").tap()
        await expect(page.locator("#paid")).to_have_text("Paid. Thank you!")
        again = await page.request.post(base + path)
        assert again.ok
    [(status,)] = await env.sql("SELECT status FROM payments WHERE method = 'card'")
    assert status == "succeeded"
    assert len(await env.sql("SELECT id FROM payment_events")) == 2  # each delivery kept once
