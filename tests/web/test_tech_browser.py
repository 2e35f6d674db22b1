"""The technician's phone app, in a real browser held like a phone (360×640, touch).

Driven through Debian's Chromium with Playwright against the app on a real socket, signed in
through the login form, on SQLite only (see test_board_browser for why). The phone's clock is
set to the server's (the test clock's Tuesday morning): the app stamps every action with the
phone's time (X-Occurred-At), which the server refuses if it is far from its own.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from PIL import Image, ImageDraw

import routeboard
from routeboard.payments.provider import MemoryProvider
from tests.conftest import PASSWORD, T0, Env
from tests.events.live import serving
from tests.flows import START, act, photo, sign, to_state
from tests.web.test_board_browser import (
    board_page,
    eventually,
    noteworthy,
)

if TYPE_CHECKING:
    from playwright.async_api import Browser, Locator, Page, ViewportSize

pytestmark = pytest.mark.anyio

PHONE: ViewportSize = {"width": 360, "height": 640}
# The app's undo window, shortened for the tests (the app reads it from this localStorage key).
UNDO_MS = 1200
SETTLE_MS = UNDO_MS + 4000  # the undo window, the request and the board's live update
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
# What the tests read from the app's own IndexedDB outbox: each action as the phone keeps it.
OUTBOX_JS = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open('routeboard-tech');
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const get = open.result.transaction('outbox').objectStore('outbox').getAll();
    get.onerror = () => reject(get.error);
    get.onsuccess = async () => {
      const out = [];
      for (const item of get.result) {
        const row = {seq: item.seq, type: item.type, key: item.key,
                     occurred_at: item.occurred_at, body: {...item.body}};
        if (item.body.blob) {
          const bytes = new Uint8Array(await item.body.blob.arrayBuffer());
          let text = '';
          for (const b of bytes) text += String.fromCharCode(b);
          row.body.blob = btoa(text);
        }
        if (item.body.image_base64) row.body.image_base64 = '(png)';
        out.push(row);
      }
      resolve(out);
    };
  };
})"""


@dataclass
class Phone:
    """The technician's phone, with every tap counted."""

    page: Page
    problems: list[str] = field(default_factory=list)
    taps: int = 0
    # Refusals the test provokes on purpose ("409 .../payments").
    expected: list[str] = field(default_factory=list)

    async def tap(self, target: str | Locator) -> None:
        locator = self.page.locator(target) if isinstance(target, str) else target
        await locator.tap()
        self.taps += 1

    def taken(self) -> int:
        """Taps since the last call."""
        n, self.taps = self.taps, 0
        return n

    @property
    def primary(self) -> Locator:
        return self.page.locator("#primary")

    @property
    def badge(self) -> Locator:
        return self.page.locator("#outbox-badge")

    async def outbox(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await self.page.evaluate(OUTBOX_JS)
        return rows


@asynccontextmanager
async def phone(
    browser: Browser, base: str, *, clock_ahead: timedelta = timedelta(0)
) -> AsyncIterator[Phone]:
    """Technician 1 signed in through the login form, the app open and showing their day;
    the phone's clock ``clock_ahead`` of the server's."""
    from playwright.async_api import expect

    context = await browser.new_context(
        viewport=PHONE, has_touch=True, is_mobile=True, device_scale_factor=2, base_url=base
    )
    try:
        # The phone's clock shows the server's time (unless told otherwise), and keeps running.
        await context.clock.install(time=T0 + clock_ahead)
        await context.add_init_script(
            f"localStorage.setItem('routeboard.tech.undoMs', '{UNDO_MS}')"
        )
        page = await context.new_page()
        tech = Phone(page)
        page.on("console", lambda m: tech.problems.append(m.text) if noteworthy(m) else None)
        page.on("pageerror", lambda e: tech.problems.append(str(e)))

        def check(status: int, url: str) -> None:
            path = url.removeprefix(base).split("?")[0]
            if status >= 400 and f"{status} {path}" not in tech.expected:
                tech.problems.append(f"{status} {path}")

        page.on("response", lambda r: check(r.status, r.url))
        await page.goto("/login?next=/tech")
        await page.fill("input[name=username]", "tech1")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(re.compile(r"/tech$"))
        await expect(page.locator("body")).to_have_attribute("data-ready", "true")
        yield tech
        assert tech.problems == []
    finally:
        await context.close()


async def state_of(env: Env, job_id: int) -> str:
    [(state,)] = await env.sql("SELECT state FROM jobs WHERE id = :j", j=job_id)
    return str(state)


def camera_jpeg(tmp_path: Path, name: str, colour: str) -> Path:
    """A photo as a phone camera makes it: bigger than the app sends."""
    picture = Image.new("RGB", (2400, 1800), colour)
    draw = ImageDraw.Draw(picture)
    for i in range(0, 2400, 150):
        draw.line([(i, 0), (2400 - i, 1800)], fill="white", width=12)
    path = tmp_path / name
    picture.save(path, "JPEG", quality=92)
    return path


async def take_photos(tech: Phone, tmp_path: Path) -> None:
    for kind, colour in (("before", "darkred"), ("after", "darkgreen")):
        await tech.page.set_input_files(
            f"#{kind}-input", camera_jpeg(tmp_path, f"{kind}.jpg", colour)
        )


async def sign_with_a_finger(tech: Phone, name: str = "Alice Moreno") -> None:
    """Touch events, as a finger sends them: Chromium turns them into pointer events."""
    page = tech.page
    pad = page.locator("#signature-pad")
    await pad.scroll_into_view_if_needed()
    box = await pad.bounding_box()
    assert box is not None
    cdp = await page.context.new_cdp_session(page)
    x0, y0 = box["x"] + 20, box["y"] + box["height"] * 0.7

    async def touch(kind: str, points: list[dict[str, float]]) -> None:
        await cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    await touch("touchStart", [{"x": x0, "y": y0}])
    for i in range(1, 25):
        x = x0 + i * (box["width"] - 40) / 24
        y = y0 - (box["height"] * 0.4) * abs(((i % 8) - 4) / 4)
        await touch("touchMove", [{"x": x, "y": y}])
    # The finger rests before it lifts: lifted mid-stroke, Chromium starts a fling, and a tap
    # during a fling only stops it (no click), which would eat the tap on "Save signature".
    for _ in range(3):
        await anyio.sleep(0.05)
        await touch("touchMove", [{"x": x, "y": y}])
    await touch("touchEnd", [])
    await cdp.detach()
    await page.fill("#signer-name", name)
    await tech.tap("#signature-save")


async def audit_trail(env: Env, job_id: int) -> list[dict[str, Any]]:
    r = await env.client.get(f"/api/v1/jobs/{job_id}/audit", headers=env.h("dispatcher"))
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries


# --- The page itself (no browser needed) ------------------------------------------------------


async def test_the_app_builds_its_screen_from_text_never_markup(env: Env) -> None:
    r = await env.client.get("/tech", headers=env.h("tech1"))
    assert r.status_code == 200
    assert re.findall(r"<script(?![^>]*\bsrc=)", r.text) == []
    assert " style=" not in r.text and "<style" not in r.text
    for name in ("tech.js", "tech-outbox.js", "tech-media.js", "tech-store.js", "tech-sw.js"):
        script = await env.client.get(f"/static/{name}")
        assert script.status_code == 200, name
        assert "innerHTML" not in script.text and "insertAdjacentHTML" not in script.text, name
    worker = await env.client.get("/tech/sw.js")
    assert worker.headers["service-worker-allowed"] == "/tech"
    # Every module of the app is in the shell the worker keeps, or the app cannot open offline.
    static = Path(routeboard.__file__).parent / "web" / "static"
    modules = {f"/static/{p.name}" for p in static.glob("tech*.js")} - {"/static/tech-sw.js"}
    kept = set(re.findall(r'"(/static/tech[^"]*)"', worker.text))
    assert modules <= kept, modules - kept


# --- In the browser ---------------------------------------------------------------------------


@SQLITE_ONLY
async def test_a_job_from_scheduled_to_paid_in_taps_with_the_board_following(
    env: Env, browser: Browser, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    jid = await to_state(env, "scheduled", start=START)
    taps: dict[str, int] = {}
    async with (
        serving(env.app) as base,
        board_page(browser, base) as board,
        phone(browser, base) as tech,
    ):
        page = tech.page
        block = board.block(jid)
        await expect(block).to_have_attribute("data-state", "scheduled")
        # Home: the next job, and one button for its next step.
        job = page.locator("#job")
        await expect(job).to_have_attribute("data-job-id", str(jid))
        await expect(job.locator(".who")).to_have_text("Alice")
        await expect(job.locator(".when")).to_have_text("Arrive 9:00 AM")
        await expect(job.locator(".where")).to_have_text("2601 Preston Rd, Frisco, TX")
        await expect(job.locator(".what")).to_have_text(
            "2019 Honda Accord · Windshield replacement"
        )
        navigate = await page.locator("#navigate").get_attribute("href")
        assert navigate and navigate.startswith("https://www.google.com/maps/dir/?api=1")
        await expect(page.locator("#today-button")).to_have_text("Today (1)")
        await expect(tech.primary).to_have_text("Start driving")

        # Undo, once: the tap shows the new state at once, and Undo takes it back unsent.
        posted: list[str] = []
        page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
        await tech.tap(tech.primary)
        await expect(page.locator("#undo-bar")).to_contain_text("Driving to 2601 Preston Rd")
        await expect(tech.primary).to_have_text("Arrived, start work")
        await tech.tap("#undo")
        await expect(tech.primary).to_have_text("Start driving")
        await expect(page.locator("#undo-bar")).to_be_hidden()
        await anyio.sleep(UNDO_MS / 1000 + 0.5)
        assert posted == []
        assert await state_of(env, jid) == "scheduled"
        await expect(block).to_have_attribute("data-state", "scheduled")
        tech.taken()

        await tech.tap(tech.primary)
        taps["en_route"] = tech.taken()
        await expect(block).to_have_attribute("data-state", "en_route", timeout=SETTLE_MS)
        assert [u.removeprefix(base) for u in posted] == [f"/api/v1/jobs/{jid}/transitions"]

        await expect(tech.primary).to_have_text("Arrived, start work")
        await tech.tap(tech.primary)
        taps["in_progress"] = tech.taken()
        await expect(block).to_have_attribute("data-state", "in_progress", timeout=SETTLE_MS)

        # Finish says what it still needs, and counts what is taken.
        await expect(tech.primary).to_be_disabled()
        await expect(page.locator("#missing li")).to_have_text(
            ["1 before photo needed", "1 after photo needed", "customer signature needed"]
        )
        await take_photos(tech, tmp_path)
        await expect(page.locator("#missing li")).to_have_text(["customer signature needed"])
        thumbs = page.locator(".thumb")
        await expect(thumbs).to_have_count(2)
        for i in range(2):
            await expect(thumbs.nth(i)).to_have_attribute("data-status", "sent", timeout=5000)
            # The upload's progress events reached the screen.
            await expect(thumbs.nth(i)).to_have_attribute("data-progress", "100")
        made = [await thumbs.nth(i).get_attribute("data-sha256") for i in range(2)]
        await sign_with_a_finger(tech)
        await expect(page.locator(".sign-done")).to_contain_text("Signed by Alice Moreno")
        await expect(page.locator("#missing")).to_have_count(0)
        await expect(tech.primary).to_be_enabled()
        await expect(tech.primary).to_have_text("Finish")
        tech.taken()  # photos and the signature are work, not steps
        await tech.tap(tech.primary)
        taps["completed"] = tech.taken()
        await expect(block).to_have_attribute("data-state", "completed", timeout=SETTLE_MS)

        # The customer's share, and insurance's; then cash.
        done = page.locator("#done")
        await expect(done.locator("#amount-due")).to_have_text("Customer pays $250.00")
        await expect(done).to_contain_text("Insurance pays the rest ($388.68).")
        href = await page.locator("#invoice-link").get_attribute("href")
        assert href == f"/api/v1/jobs/{jid}/documents/invoice.pdf"
        pdf = await page.request.get(href)
        assert pdf.headers["content-type"] == "application/pdf"
        work_order = await page.locator("#work-order-link").get_attribute("href")
        assert work_order == f"/api/v1/jobs/{jid}/documents/work-order.pdf"
        await tech.tap("#pay-cash")
        await tech.tap("#pay-cash-only")
        taps["paid"] = tech.taken()
        await expect(page.locator("#paid")).to_contain_text("Paid ✓", timeout=SETTLE_MS)
        await expect(page.locator("#paid")).to_contain_text("$250.00 · Cash payment")
        [(method, amount, status)] = await env.sql(
            "SELECT method, amount_cents, status FROM payments"
        )
        assert (method, amount, status) == ("cash", 25000, "succeeded")
        await expect(block).to_have_attribute("data-state", "completed")

        # The photos were shrunk on the phone (1600 px on the long side, JPEG), and the server
        # stored byte for byte what the phone made.
        stored = await env.sql("SELECT id, sha256 FROM photos WHERE job_id = :j ORDER BY id", j=jid)
        assert [sha for _, sha in stored] == made
        r = await env.client.get(
            f"/api/v1/jobs/{jid}/photos/{stored[0][0]}/content", headers=env.h("tech1")
        )
        assert hashlib.sha256(r.content).hexdigest() == made[0]
        with Image.open(io.BytesIO(r.content)) as picture:
            assert (picture.format, picture.size) == ("JPEG", (1600, 1200))
    assert taps == {"en_route": 1, "in_progress": 1, "completed": 1, "paid": 2}
    assert all(n <= 2 for n in taps.values())


@SQLITE_ONLY
async def test_work_done_without_a_signal_reaches_the_server_as_it_happened(
    env: Env, browser: Browser, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    jid = await to_state(env, "scheduled", start=START)
    async with (
        serving(env.app) as base,
        board_page(browser, base) as board,
        phone(browser, base) as tech,
    ):
        page, context = tech.page, tech.page.context
        block = board.block(jid)

        # The app's shell is kept by its service worker before the signal goes.
        # (Polled through evaluate: wait_for_function would need eval, which the page's CSP
        # forbids.)
        async def controlled() -> bool:
            return bool(await page.evaluate("() => navigator.serviceWorker.controller !== null"))

        assert await eventually(controlled, seconds=10)
        await tech.tap(tech.primary)
        await expect(block).to_have_attribute("data-state", "en_route", timeout=SETTLE_MS)

        await context.set_offline(True)
        await tech.tap(tech.primary)  # arrived, in a parking garage
        await expect(page.locator("#job")).to_have_attribute("data-state", "in_progress")
        await take_photos(tech, tmp_path)
        await expect(page.locator(".thumb[data-status=waiting]")).to_have_count(2)
        await sign_with_a_finger(tech)
        await expect(tech.primary).to_be_enabled()  # what was taken offline counts
        await tech.tap(tech.primary)
        await expect(page.locator("#job")).to_have_attribute("data-state", "completed")
        await expect(tech.badge).to_have_text("Waiting to send (5)")
        await expect(page.locator("#net")).to_have_text("Offline")
        # With every part of the top bar showing, the app is still no wider than the phone.
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        await expect(page.locator(".due-unknown")).to_be_visible()
        await anyio.sleep(UNDO_MS / 1000 + 0.3)
        queued = await tech.outbox()
        assert [(q["type"], q["body"].get("action") or q["body"].get("kind")) for q in queued] == [
            ("transition", "start_work"),
            ("photo", "before"),
            ("photo", "after"),
            ("signature", None),
            ("transition", "complete"),
        ]
        assert await state_of(env, jid) == "en_route"
        await expect(block).to_have_attribute("data-state", "en_route")

        # Closed and opened again without a signal: the shell, the day and the queue are kept.
        await page.reload()
        await expect(page.locator("body")).to_have_attribute("data-ready", "true")
        await expect(page.locator("#job")).to_have_attribute("data-state", "completed")
        await expect(tech.badge).to_have_text("Waiting to send (5)")
        await tech.tap(tech.badge)  # what is waiting, in order
        await expect(page.locator(".outbox-what")).to_have_text(
            [
                f"Working at Alice's · job {jid}",
                f"Before photo · job {jid}",
                f"After photo · job {jid}",
                f"Signature of Alice Moreno · job {jid}",
                f"Job finished · job {jid}",
            ]
        )
        await tech.tap("#today-button")
        await expect(page.locator("#job")).to_have_attribute("data-state", "completed")

        # The signal returns ten minutes later (by the server's clock).
        env.clock.advance(minutes=10)
        received = env.clock()
        await context.set_offline(False)
        await expect(tech.badge).to_be_hidden(timeout=10_000)
        await expect(block).to_have_attribute("data-state", "completed", timeout=SETTLE_MS)
        await expect(page.locator("#amount-due")).to_have_text("Customer pays $250.00")

    # The server ends where an online run ends.
    assert await state_of(env, jid) == "completed"
    photos = await env.sql("SELECT kind, sha256 FROM photos WHERE job_id = :j ORDER BY id", j=jid)
    made = {
        q["body"]["kind"]: (q["body"]["sha256"], base64.b64decode(q["body"]["blob"]))
        for q in queued
        if q["type"] == "photo"
    }
    assert [(kind, sha) for kind, sha in photos] == [
        ("before", made["before"][0]),
        ("after", made["after"][0]),
    ]
    for sha, content in made.values():
        assert hashlib.sha256(content).hexdigest() == sha  # byte for byte what the phone made
    assert made["before"][0] != made["after"][0]
    # Sent again (an answer lost on the way): answered, never stored twice.
    [before] = [q for q in queued if q["body"].get("kind") == "before"]
    again = await env.client.post(
        f"/api/v1/jobs/{jid}/photos",
        files={"file": ("p.jpg", made["before"][1], "image/jpeg")},
        data={"kind": "before"},
        headers=env.h("tech1")
        | {"Idempotency-Key": before["key"], "X-Occurred-At": before["occurred_at"]},
    )
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (201, "true")
    assert len(await env.sql("SELECT id FROM photos WHERE job_id = :j", j=jid)) == 2

    # The trail keeps when each step was taken (offline), and when it arrived.
    trail = {e["action"]: e for e in await audit_trail(env, jid)}
    taken = {q["body"]["action"]: q["occurred_at"] for q in queued if q["type"] == "transition"}
    for action in ("start_work", "complete"):
        entry = trail[f"job.{action}"]
        at = datetime.fromisoformat(entry["at"])
        assert at == datetime.fromisoformat(taken[action].replace("Z", "+00:00"))
        assert datetime.fromisoformat(entry["data"]["received_at"]) == received
        assert at < received
    assert trail["job.start_work"]["at"] < trail["job.complete"]["at"]


@SQLITE_ONLY
async def test_a_phone_whose_clock_runs_fast_stamps_taps_with_the_servers_time(
    env: Env, browser: Browser
) -> None:
    """Fifteen minutes fast: stamped with its own clock, every tap would be refused as
    happening in the future (occurred_in_future); the app corrects by the server's time."""
    from playwright.async_api import expect

    jid = await to_state(env, "scheduled", start=START)
    async with (
        serving(env.app) as base,
        phone(browser, base, clock_ahead=timedelta(minutes=15)) as tech,
    ):
        await expect(tech.primary).to_have_text("Start driving")
        await tech.tap(tech.primary)
        await expect(tech.primary).to_have_text("Arrived, start work")
        deadline = time.monotonic() + 10
        while await state_of(env, jid) != "en_route":
            assert time.monotonic() < deadline, "the tap never reached the server"
            await anyio.sleep(0.2)
    [entry] = [e for e in await audit_trail(env, jid) if e["action"] == "job.start_travel"]
    at = datetime.fromisoformat(entry["at"])
    assert abs(at - env.clock()) < timedelta(minutes=1), (at, env.clock())


@SQLITE_ONLY
async def test_every_target_is_a_thumbs_width_at_360_by_640(env: Env, browser: Browser) -> None:
    from playwright.async_api import expect

    jid = await to_state(env, "scheduled")  # 09:00
    await to_state(env, "scheduled")  # 11:00: a second job, for the day list
    # Found and measured in one go: the app rebuilds its screen when data arrives.
    measure = """() => [...document.querySelectorAll(
        'button, a[href], label.btn, input:not([type=file]), select, textarea')]
      .filter((n) => n.getClientRects().length > 0 && getComputedStyle(n).visibility !== 'hidden')
      .map((n) => {
        const b = n.getBoundingClientRect();
        return [n.id || n.textContent.trim(), b.width, b.height];
      })"""

    async def small(page: Page) -> list[str]:
        found: list[tuple[str, float, float]] = await page.evaluate(measure)
        assert found, "no targets"
        return [f"{name}: {w:.0f}×{h:.0f}" for name, w, h in found if h < 48 or w < 48]

    async with serving(env.app) as base, phone(browser, base) as tech:
        page = tech.page
        await expect(tech.primary).to_have_text("Start driving")
        assert await small(page) == []  # home
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        await tech.tap("#today-button")
        await expect(page.locator(".day-job")).to_have_count(2)
        assert await small(page) == []
        await tech.tap(page.locator(f'.day-job[data-job-id="{jid}"]'))
        await expect(page.locator("#job")).to_have_attribute("data-job-id", str(jid))

        for action in ("start_travel", "start_work"):
            assert (await act(env, jid, action)).status_code == 200  # the office's changes
        await expect(tech.primary).to_have_text("Finish")  # live, through the stream
        assert await small(page) == []  # the finish screen, with camera and signature

        for kind in ("before", "after"):
            assert (await photo(env, jid, kind)).status_code == 201
        assert (await sign(env, jid)).status_code == 201
        assert (await act(env, jid, "complete")).status_code == 200
        await expect(page.locator("#amount-due")).to_have_text("Customer pays $250.00")
        await expect(page.locator("#pay-cash")).to_be_visible()
        assert await small(page) == []  # finished: payment and documents
        await tech.tap("#pay-cash")
        await expect(page.locator("#pay-cheque")).to_be_visible()
        assert await small(page) == []


@SQLITE_ONLY
async def test_a_refused_payment_is_shown_and_discarded_then_card_by_qr(
    env: Env, browser: Browser
) -> None:
    from playwright.async_api import expect

    provider = MemoryProvider()
    env.app.state.payments = provider
    jid = await to_state(env, "completed", start=START)
    async with serving(env.app) as base, phone(browser, base) as tech:
        page = tech.page
        await expect(page.locator("#amount-due")).to_have_text("Customer pays $250.00")
        # The customer owes their deductible: "insurance only" is refused, in the server's words.
        tech.expected.append(f"409 /api/v1/jobs/{jid}/payments")
        await tech.tap("#pay-insurance")
        problem = page.locator("#problem")
        await expect(problem).to_contain_text("the customer still owes $250.00", timeout=SETTLE_MS)
        await expect(tech.badge).to_have_text("Waiting to send (1)")
        await tech.tap("#problem-discard")
        await expect(problem).to_be_hidden()
        await expect(tech.badge).to_be_hidden()

        # Card: a QR code for the customer's own phone, then paid when the provider says.
        started = time.monotonic()
        await tech.tap("#pay-card")
        qr = page.locator("#card-qr")
        await expect(qr).to_be_visible(timeout=SETTLE_MS)
        assert await qr.evaluate("(img) => img.complete && img.naturalWidth > 100")
        [(reference,)] = await env.sql("SELECT reference FROM payments WHERE status = 'pending'")
        url = await page.locator("#card-link").get_attribute("href")
        assert url and url.endswith(str(reference))
        delivery = provider.pay(str(reference))
        r = await env.client.post(
            "/api/v1/payments/webhook", content=delivery.payload, headers=delivery.headers
        )
        assert r.json() == {"received": True, "changed": True}
        await expect(page.locator("#paid")).to_contain_text("Paid ✓", timeout=5000)
        await expect(qr).to_have_count(0)
        assert time.monotonic() - started < 10
    body = json.loads(delivery.payload)
    assert body["data"]["object"]["amount_total"] == 25000
