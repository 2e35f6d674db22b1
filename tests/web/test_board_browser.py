"""The dispatcher board, in a real browser and as a page.

The browser tests drive Debian's Chromium (``/usr/bin/chromium``) through Playwright against the
app on a real socket, signed in through the real login form. They are skipped with a reason when
Chromium or the playwright package is missing, unless ROUTEBOARD_REQUIRE_SERVICES=1, where that
fails the run. They run on SQLite only: the page sees the same API and stream on either
database, and the API tests already cover both.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from tests.conftest import PASSWORD, T0, Env
from tests.events.live import serving
from tests.flows import START, act, approve, create_job, photo, schedule, sign, to_state

if TYPE_CHECKING:
    from playwright.async_api import (
        Browser,
        ConsoleMessage,
        Locator,
        Page,
        Response,
        ViewportSize,
    )

pytestmark = pytest.mark.anyio

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "board.png"
VIEWPORT: ViewportSize = {"width": 1366, "height": 768}
# The block colours of board.css, as the browser computes them.
BLUE = "rgb(208, 227, 255)"
YELLOW = "rgb(255, 229, 138)"
# One backend is enough for the page (see the module docstring).
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@dataclass
class Board:
    page: Page
    problems: list[str] = field(default_factory=list)

    def column(self, technician_id: int) -> Locator:
        return self.page.locator(f'.column[data-technician-id="{technician_id}"]')

    def block(self, job_id: int) -> Locator:
        return self.page.locator(f'.job[data-job-id="{job_id}"]')

    async def layout(self) -> list[tuple[int, str, str]]:
        """Every block on the page as (job, state, where: a technician id or "tray")."""
        rows = await self.page.evaluate(
            """() => [...document.querySelectorAll('#board .job, #tray-list .job')].map((b) =>
                 [Number(b.dataset.jobId), b.dataset.state,
                  b.closest('.column')?.dataset.technicianId ?? 'tray'])"""
        )
        return sorted((int(j), str(s), str(w)) for j, s, w in rows)


@asynccontextmanager
async def board_page(browser: Browser, base: str) -> AsyncIterator[Board]:
    """A dispatcher signed in through the login form, looking at the board (live)."""
    context = await browser.new_context(viewport=VIEWPORT, base_url=base)
    try:
        page = await context.new_page()
        board = Board(page)
        # A CSP violation, a script error or a refused request shows up here and fails the test
        # (the failed request itself is logged as "Failed to load resource", without its URL).
        page.on("console", lambda m: board.problems.append(m.text) if noteworthy(m) else None)
        page.on("pageerror", lambda e: board.problems.append(str(e)))
        page.on(
            "response",
            lambda r: board.problems.append(f"{r.status} {r.url}") if refused(r) else None,
        )
        await page.goto("/login?next=/board")
        await page.fill("input[name=username]", "dispatcher")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(re.compile(r"/board$"))
        await ready(board)
        yield board
        assert board.problems == []
    finally:
        await context.close()


def noteworthy(message: ConsoleMessage) -> bool:
    return message.type in ("error", "warning") and "Failed to load resource" not in message.text


def refused(response: Response) -> bool:
    return response.status >= 400 and not response.url.endswith("/favicon.ico")


async def ready(board: Board) -> None:
    from playwright.async_api import expect

    await expect(board.page.locator("#live")).to_have_attribute("data-live", "connected")
    await expect(board.page.locator("#board")).to_have_attribute("aria-busy", "false")


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            return False
        await anyio.sleep(0.05)
    return True


# --- The page itself (no browser needed) ------------------------------------------------------


async def test_the_board_is_for_the_office_and_sends_others_to_sign_in(env: Env) -> None:
    for caller in ("tech1", "customer", "device", "anonymous"):
        r = await env.client.get("/board", headers=env.h(caller))
        assert (r.status_code, r.headers["location"]) == (303, "/login?next=/board"), caller
    r = await env.client.get("/board", headers=env.h("dispatcher"))
    assert r.status_code == 200
    # The day and zone come from the server: the fake clock's Tuesday in Dallas.
    assert 'data-date="2026-12-01"' in r.text
    assert 'data-timezone="America/Chicago"' in r.text
    assert 'data-day-start="7" data-day-end="19"' in r.text
    picked = await env.client.get("/board?date=2026-12-24", headers=env.h("admin"))
    assert 'data-date="2026-12-24"' in picked.text
    for nonsense in ("yesterday", "1900-01-01", "2026-02-30"):
        r = await env.client.get(f"/board?date={nonsense}", headers=env.h("admin"))
        assert 'data-date="2026-12-01"' in r.text, nonsense


async def test_the_board_page_obeys_its_content_security_policy(env: Env) -> None:
    r = await env.client.get("/board", headers=env.h("dispatcher"))
    assert "script-src 'self'" in r.headers["content-security-policy"]
    # No inline script or style: the CSP would block them.
    assert re.findall(r"<script(?![^>]*\bsrc=)", r.text) == []
    assert " style=" not in r.text and "<style" not in r.text
    script = await env.client.get("/static/board.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "innerHTML" not in script.text and "insertAdjacentHTML" not in script.text
    assert (await env.client.get("/static/board.css")).status_code == 200


# --- In the browser ---------------------------------------------------------------------------


@SQLITE_ONLY
async def test_a_technicians_tap_recolours_the_block_within_a_second(
    env: Env, browser: Browser
) -> None:
    from playwright.async_api import expect

    tech1, tech2 = env.cast.tech1_id, env.cast.tech2_id
    jid = await to_state(env, "scheduled")  # tech1, 09:00
    later = await to_state(env, "scheduled")  # tech1, 11:00
    async with serving(env.app) as base, board_page(browser, base) as board:
        block = board.column(tech1).locator(f'.job[data-job-id="{jid}"]')
        await expect(block).to_have_css("background-color", BLUE)
        started = time.monotonic()
        assert (await act(env, jid, "start_travel")).status_code == 200
        await expect(block).to_have_css("background-color", YELLOW, timeout=1000)
        assert time.monotonic() - started < 1.0
        await expect(block).to_have_attribute("data-state", "en_route")
        # The tap also told the board where the technician is: the column header says so.
        status = board.column(tech1).locator(".column-status")
        await expect(status).to_contain_text("en route", timeout=1000)

        # More of the day happens; the board keeps up, by the rules of events/board.py.
        await schedule(env, later, tech2, start=START + timedelta(days=1))  # leaves this day
        tray_job = (await create_job(env))["id"]  # unassigned: the tray
        moved = await to_state(env, "quoted")
        await schedule(env, moved, tech2, start=START + timedelta(hours=4))  # tray → tech2
        cancelled = await to_state(env, "scheduled")
        r = await act(env, cancelled, "cancel", role="dispatcher", reason="customer sold the car")
        assert r.status_code == 200
        expected = sorted(
            [
                (jid, "en_route", str(tech1)),
                (tray_job, "quoted", "tray"),
                (moved, "scheduled", str(tech2)),
                (cancelled, "cancelled", str(tech1)),
            ]
        )

        async def caught_up() -> bool:
            return await board.layout() == expected

        assert await eventually(caught_up), await board.layout()
        # The streamed board equals a fresh one.
        fresh = Board(await board.page.context.new_page())
        await fresh.page.goto("/board")
        await ready(fresh)
        assert await fresh.layout() == expected

        # The day picker: the next day holds the job that left this one (and the same tray).
        await board.page.click("button[data-step='1']")
        await expect(board.page).to_have_url(re.compile(r"/board\?date=2026-12-02$"))
        await ready(board)
        assert await board.layout() == [
            (later, "scheduled", str(tech2)),
            (tray_job, "quoted", "tray"),
        ]


@SQLITE_ONLY
async def test_a_drop_on_a_conflicting_slot_is_described_before_anything_is_saved(
    env: Env, browser: Browser
) -> None:
    from playwright.async_api import expect

    tech1, tech2 = env.cast.tech1_id, env.cast.tech2_id
    first = await to_state(env, "scheduled", start=START)  # tech1 09:00–10:30, Frisco
    mesquite = {"address": "3811 Towne Crossing Blvd, Mesquite, TX", "lat": 32.813, "lon": -96.625}
    far = (await create_job(env, site=mesquite))["id"]
    await approve(env, far)
    await schedule(env, far, tech2, start=START + timedelta(hours=4))  # tech2 13:00
    slot = START + timedelta(minutes=105)  # 10:45 on tech1: 15 min after the Frisco job
    check = await env.client.post(
        "/api/v1/schedule/check",
        json={"job_id": far, "technician_id": tech1, "start": slot.isoformat()},
        headers=env.h("dispatcher"),
    )
    [travel] = check.json()["conflicts"]
    needs, free = js_round(travel["travel_minutes"]), js_round(travel["available_minutes"])
    sentence = (
        f"Travel: needs {needs} min from job {first}, only {free} available"
        f" — {needs - free} min short"
    )
    saved = await job(env, far)

    async with serving(env.app) as base, board_page(browser, base) as board:
        posted: list[str] = []
        board.page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
        await drag(board, far, tech1, minutes=10 * 60 + 45)

        panel = board.page.locator("#confirm")
        await expect(panel).to_be_visible()
        await expect(panel.locator("#confirm-title")).to_have_text(
            f"Move #{far} to Marco Diaz at 10:45?"
        )
        await expect(panel.locator("#confirm-conflicts")).to_have_text(sentence)
        # Only the dry run went to the server; the job is where it was.
        assert [url.removeprefix(base) for url in posted] == ["/api/v1/schedule/check"]
        assert await job(env, far) == saved
        await expect(board.column(tech2).locator(f'.job[data-job-id="{far}"]')).to_have_count(1)

        # A dispatcher may force it, with a reason that is audited.
        ok = panel.locator("#confirm-ok")
        await expect(ok).to_be_disabled()
        await panel.locator("#override-reason").fill("customer waits at the shop")
        await ok.click()
        await expect(panel).to_be_hidden()
        await expect(board.column(tech1).locator(f'.job[data-job-id="{far}"]')).to_have_count(1)
        moved = await job(env, far)
        assert (moved["technician_id"], moved["override_reason"]) == (
            tech1,
            "customer waits at the shop",
        )
        assert datetime.fromisoformat(moved["scheduled_start"]) == slot


@SQLITE_ONLY
async def test_a_busy_day_at_1366_by_768_with_a_screenshot(env: Env, browser: Browser) -> None:
    from playwright.async_api import expect

    ids = await busy_day(env)
    for name, tech in (("Plano", env.cast.tech1_id), ("Mesquite", env.cast.tech2_id)):
        site = {"address": f"{name}, TX", "lat": 33.0, "lon": -96.7}
        r = await env.client.post(
            "/api/v1/branches", json={"name": name, "site": site}, headers=env.h("admin")
        )
        r = await env.client.patch(
            f"/api/v1/technicians/{tech}",
            json={"branch_id": r.json()["id"]},
            headers=env.h("admin"),
        )
        assert r.status_code == 200
    async with serving(env.app) as base, board_page(browser, base) as board:
        page = board.page
        await expect(page.locator(".column")).to_have_count(12)
        await expect(page.locator(".drive").first).to_be_visible()
        widths = await page.eval_on_selector_all(
            ".column", "cs => cs.map((c) => c.getBoundingClientRect().width)"
        )
        assert all(90 <= w <= 110 for w in widths), widths
        # Only the board scrolls sideways (if at all); the page itself fits the window.
        assert await page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
        await expect(page.locator("#tray-list .job")).to_have_count(3)
        await expect(board.block(ids["late"])).to_have_class(re.compile(r"\blate\b"))
        await expect(board.block(ids["cancelled"])).to_have_attribute("data-state", "cancelled")
        await expect(board.column(ids["off"])).to_contain_text("Off today")
        # The alerts panel names the late job in words.
        await expect(page.locator("#alerts-list")).to_contain_text(f"Job #{ids['late']}")
        await expect(page.locator("#alerts-list")).to_contain_text("min late")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        await page.screenshot(path=SCREENSHOT)
        # Filters: only ADAS-trained technicians' columns; other states dimmed.
        await page.select_option("#filter-skill", "adas_calibration")
        adas = await page.locator(".column").count()
        assert 0 < adas < 12
        await page.select_option("#filter-skill", "")
        await expect(page.locator(".column")).to_have_count(12)
        await page.select_option("#filter-state", "en_route")
        dimmed = await page.locator(".job.filtered-out").count()
        assert dimmed > 0
        assert await page.locator('.job[data-state="en_route"].filtered-out').count() == 0
        # Branch: Plano's one technician, and the tray's jobs that no shop has taken yet.
        await page.select_option("#filter-branch", label="Plano")
        await expect(page.locator(".column")).to_have_count(1)
        await expect(board.column(env.cast.tech1_id)).to_be_visible()
        await expect(page.locator("#tray-list .job")).to_have_count(3)


# --- Helpers ----------------------------------------------------------------------------------


def js_round(x: float) -> int:
    """JavaScript's Math.round (halves up), which the page uses."""
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


async def job(env: Env, job_id: int) -> dict[str, Any]:
    r = await env.client.get(f"/api/v1/jobs/{job_id}", headers=env.h("dispatcher"))
    assert r.status_code == 200
    return dict(r.json())


async def drag(board: Board, job_id: int, technician_id: int, *, minutes: int) -> None:
    """Drag a block by its top edge so that it starts at ``minutes`` on the technician's day."""
    page = board.page
    source = await board.block(job_id).bounding_box()
    target = await board.column(technician_id).locator(".column-body").bounding_box()
    assert source is not None and target is not None
    start = float(await page.locator("#board").get_attribute("data-range-start") or 0)
    scale = float(await page.locator("#board").get_attribute("data-minute-px") or 1)
    grab = 6
    await page.mouse.move(source["x"] + 20, source["y"] + grab)
    await page.mouse.down()
    await page.mouse.move(source["x"] + 30, source["y"] + grab + 12, steps=3)
    y = target["y"] + (minutes - start) * scale + grab
    await page.mouse.move(target["x"] + target["width"] / 2, y, steps=8)
    await page.mouse.up()


# A Tuesday of a twelve-person shop, seen at 10:50: finished, running, late and waiting jobs.
SITES = {
    "frisco": ("2601 Preston Rd, Frisco", 33.100, -96.800),
    "plano": ("6121 W Park Blvd, Plano", 33.027, -96.790),
    "legacy": ("5800 Legacy Dr, Plano", 33.076, -96.823),
    "allen": ("190 E Stacy Rd, Allen", 33.125, -96.655),
    "mckinney": ("100 N Tennessee St, McKinney", 33.198, -96.615),
    "richardson": ("2201 N Central Expy, Richardson", 32.980, -96.713),
    "campbell": ("700 W Campbell Rd, Richardson", 32.976, -96.740),
    "royal": ("5959 Royal Ln, Dallas", 32.895, -96.798),
    "northpark": ("8687 N Central Expy, Dallas", 32.869, -96.770),
    "downtown": ("1201 Elm St, Dallas", 32.781, -96.800),
    "mesquite": ("3811 Towne Crossing Blvd, Mesquite", 32.813, -96.625),
    "irving": ("2300 W Airport Fwy, Irving", 32.837, -96.983),
    "grapevine": ("3000 Grapevine Mills Pkwy, Grapevine", 32.969, -97.040),
    "garland": ("5000 N Garland Ave, Garland", 32.955, -96.640),
    "carrollton": ("2540 Old Denton Rd, Carrollton", 32.990, -96.900),
    "lewisville": ("2401 S Stemmons Fwy, Lewisville", 33.010, -97.000),
    "addison": ("5100 Belt Line Rd, Addison", 32.953, -96.829),
}
SHOPS = {"plano": ("Plano shop", 33.0198, -96.6989), "dallas": ("Dallas shop", 32.847, -96.851)}
SKILLS = ["windshield_replacement", "chip_repair", "adas_calibration", "side_back_glass"]
# name: (shop, Tuesday hours or None for a day off)
CREW = {
    "Alex Romero": ("dallas", ("07:00", "16:00")),
    "Ben Carter": ("dallas", ("08:00", "17:00")),
    "Jess Kowalski": ("plano", ("10:00", "19:00")),
    "Kim Nguyen": ("dallas", ("08:00", "17:00")),
    "Luis Ortega": ("plano", ("07:00", "16:00")),
    "Mia Chen": ("dallas", ("08:00", "17:00")),
    "Omar Haddad": ("plano", None),
    "Priya Raman": ("dallas", ("09:00", "18:00")),
    "Sam Okafor": ("plano", ("08:00", "17:00")),
    "Tara Blake": ("dallas", ("08:00", "17:00")),
}
W, CHIP, ADAS, SIDE = SKILLS
# (technician, start, minutes, site, service, note); states follow from the time of day:
# done before 10:50, working at 10:50, on the way when due within 25 minutes, else scheduled.
# "invoice": invoiced once done; "stall": nobody started it (projected late); "cancel".
DAY = [
    ("Marco Diaz", "08:30", 90, "frisco", W, "invoice"),
    ("Marco Diaz", "10:30", 45, "legacy", CHIP, ""),
    ("Marco Diaz", "13:00", 120, "allen", ADAS, ""),
    ("Marco Diaz", "15:30", 60, "mckinney", W, ""),
    ("Dana Whitfield", "08:45", 60, "plano", CHIP, ""),
    ("Dana Whitfield", "10:15", 90, "richardson", SIDE, ""),
    ("Dana Whitfield", "13:00", 90, "campbell", W, ""),
    ("Alex Romero", "07:30", 90, "downtown", W, "invoice"),
    ("Alex Romero", "09:45", 120, "irving", ADAS, ""),
    ("Alex Romero", "13:00", 90, "grapevine", W, ""),
    ("Ben Carter", "08:30", 60, "royal", CHIP, ""),
    ("Ben Carter", "10:15", 60, "northpark", W, "stall"),
    ("Ben Carter", "12:30", 90, "downtown", W, ""),
    ("Ben Carter", "15:00", 60, "addison", CHIP, "cancel"),
    ("Jess Kowalski", "11:00", 90, "allen", W, ""),
    ("Jess Kowalski", "13:30", 120, "mckinney", ADAS, ""),
    ("Jess Kowalski", "16:30", 60, "frisco", CHIP, ""),
    ("Kim Nguyen", "09:00", 90, "mesquite", W, ""),
    ("Kim Nguyen", "11:30", 90, "garland", SIDE, ""),
    ("Kim Nguyen", "14:00", 60, "richardson", CHIP, ""),
    ("Luis Ortega", "07:30", 60, "legacy", CHIP, "invoice"),
    ("Luis Ortega", "09:00", 120, "carrollton", ADAS, ""),
    ("Luis Ortega", "12:30", 90, "lewisville", W, ""),
    ("Mia Chen", "08:45", 90, "addison", W, ""),
    ("Mia Chen", "11:30", 60, "royal", CHIP, ""),
    ("Mia Chen", "13:30", 90, "northpark", W, ""),
    ("Priya Raman", "09:30", 60, "irving", CHIP, ""),
    ("Priya Raman", "11:10", 90, "carrollton", W, ""),
    ("Priya Raman", "14:30", 120, "grapevine", ADAS, ""),
    ("Sam Okafor", "08:45", 90, "garland", W, ""),
    ("Sam Okafor", "12:00", 60, "mesquite", CHIP, ""),
    ("Sam Okafor", "14:00", 90, "downtown", SIDE, ""),
    ("Tara Blake", "08:30", 60, "campbell", CHIP, "invoice"),
    ("Tara Blake", "10:30", 90, "addison", W, ""),
    ("Tara Blake", "13:30", 60, "lewisville", CHIP, ""),
]
TRAY = [("frisco", W, 90), ("plano", CHIP, 30), ("grapevine", ADAS, 60)]
NOW = T0 + timedelta(hours=4, minutes=50)  # 10:50 in Dallas


def site(key: str) -> dict[str, Any]:
    address, lat, lon = SITES[key]
    return {"address": f"{address}, TX", "lat": lat, "lon": lon}


def at(hhmm: str) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return T0 + timedelta(hours=hours - 6, minutes=minutes)  # T0 is 06:00 in Dallas


async def busy_day(env: Env) -> dict[str, int]:
    """Seed the day through the API; returns the ids the test looks for."""
    techs = {"Marco Diaz": env.cast.tech1_id, "Dana Whitfield": env.cast.tech2_id}
    for n, (name, (shop, hours)) in enumerate(CREW.items()):
        address, lat, lon = SHOPS[shop]
        body = {
            "name": name,
            "phone": f"+1 214 555 02{n:02d}",
            "email": f"{name.split()[0].lower()}@example.com",
            "skills": SKILLS,
            "home_base": {"address": address, "lat": lat, "lon": lon},
            "working_hours": {"tue": list(hours)} if hours else {"mon": ["08:00", "17:00"]},
        }
        r = await env.client.post("/api/v1/technicians", json=body, headers=env.h("dispatcher"))
        assert r.status_code == 201, r.text
        techs[name] = r.json()["id"]
    ids = {"off": techs["Omar Haddad"]}
    steps: list[tuple[datetime, int, str]] = []
    for name, start, minutes, where, service, note in DAY:
        jid = (
            await create_job(env, site=site(where), service_type=service, duration_minutes=minutes)
        )["id"]
        await approve(env, jid)
        begin = at(start)
        r = await env.client.post(
            f"/api/v1/jobs/{jid}/schedule",
            json={"technician_id": techs[name], "start": begin.isoformat()},
            headers=env.h("dispatcher"),
        )
        assert r.status_code == 200, f"{name} {start}: {r.text}"
        end = begin + timedelta(minutes=minutes)
        if note == "cancel":
            ids["cancelled"] = jid
            steps.append((at("09:20"), jid, "cancel"))
            continue
        if note == "stall":
            ids["late"] = jid
            continue
        plan = [(begin - timedelta(minutes=25), "start_travel"), (begin, "start_work")]
        plan.append((end, "complete"))
        if note == "invoice":
            plan.append((end + timedelta(minutes=5), "invoice"))
        steps += [(when, jid, action) for when, action in plan if when <= NOW]
    for when, jid, action in sorted(steps):
        env.clock.now = when
        await step(env, jid, action)
    env.clock.now = NOW
    for where, service, minutes in TRAY:
        await create_job(env, site=site(where), service_type=service, duration_minutes=minutes)
    return ids


async def step(env: Env, job_id: int, action: str) -> None:
    """One transition as the office would record it (the seeded crew have no logins)."""
    if action == "complete":
        for kind in ("before", "after"):
            assert (await photo(env, job_id, kind, role="dispatcher")).status_code == 201
        assert (await sign(env, job_id, role="dispatcher")).status_code == 201
    extra = {"reason": "customer sold the car"} if action == "cancel" else {}
    r = await act(env, job_id, action, role="dispatcher", **extra)
    assert r.status_code == 200, f"{job_id} {action}: {r.text}"
