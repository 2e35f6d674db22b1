"""The calendar drill: the demo and the day-boundary rules at the instants that break software.

Each case travels the wall clock (time-machine) to an awkward instant in the business zone and
runs, on the app's default clock, what a user would: `routeboard demo`'s seeding and serving, and
"today", working hours, slots, quiet hours and late notices through the API. The loop runs
inside the travel (``asyncio.run``), so its timers and the clock agree.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import time_machine
from sqlalchemy import update

from routeboard.app import create_app, watch_lateness
from routeboard.auth.tokens import issue_token
from routeboard.clock import system_clock
from routeboard.config import Settings
from routeboard.demo import data
from routeboard.demo.service import DemoDay, reset_and_seed, works_on
from routeboard.jobs.states import State
from routeboard.migrate import upgrade
from routeboard.models import AuthSession, Technician
from routeboard.notify.service import quiet_until
from tests.conftest import JWT_KEY, _seed_cast
from tests.flows import QUOTE, VIN

CT = ZoneInfo("America/Chicago")
INSTANTS = {
    "saturday-afternoon": datetime(2026, 12, 5, 15, 0, tzinfo=CT),
    "sunday-23:30": datetime(2026, 12, 6, 23, 30, tzinfo=CT),
    "monday-00:10": datetime(2026, 12, 7, 0, 10, tzinfo=CT),
    # 02:00 became 03:00: the day is 23 hours long.
    "spring-forward": datetime(2027, 3, 14, 3, 5, tzinfo=CT),
    # The second 01:30 (fold=1, standard time): the day is 25 hours long.
    "fall-back": datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=CT),
    "new-years-eve-23:59": datetime(2026, 12, 31, 23, 59, tzinfo=CT),
    "29-february": datetime(2028, 2, 29, 9, 0, tzinfo=CT),
}
CASES = pytest.mark.parametrize("instant", list(INSTANTS.values()), ids=list(INSTANTS))


def _at(instant: datetime) -> time_machine.travel:
    # Ticking: the event loop's timers must move for the servers and clients to run.
    return time_machine.travel(instant.astimezone(UTC), tick=True)


async def _page_session(client: httpx.AsyncClient, username: str, password: str) -> None:
    """Sign in through the login form, as a dispatcher's browser would."""
    form = (await client.get("/login")).text
    match = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert match, form
    r = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": match[1], "next": "/"},
    )
    assert r.status_code == 303, r.text


async def _demo(instant: datetime, data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, database_url=None, jwt_secret=JWT_KEY)
    tz = settings.tz
    real_day = instant.astimezone(tz).date()
    demo = DemoDay.near(system_clock(), tz)
    assert demo.real_day == real_day
    assert works_on(demo.day) and abs((demo.day - real_day).days) <= 2
    await reset_and_seed(settings, day=demo.day)
    app = create_app(settings, clock=demo.clock)
    app.state.demo_note = demo.note()
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            name, password = data.DISPATCHER_LOGIN
            token = await client.post(
                "/api/v1/auth/token", data={"username": name, "password": password}
            )
            assert token.status_code == 200, token.text
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            jobs = await client.get(
                "/api/v1/jobs", params={"date": demo.day.isoformat(), "limit": 100},
                headers=headers,
            )  # fmt: skip
            states = {job["state"] for job in jobs.json()["items"]}
            on_the_day = {State.SCHEDULED, State.EN_ROUTE, State.IN_PROGRESS, State.COMPLETED}
            assert {s.value for s in (*on_the_day, State.INVOICED, State.CANCELLED)} <= states
            # The board opens on the demo day and says which day it is.
            await _page_session(client, name, password)
            board = await client.get("/board")
            assert f'data-today="{demo.day.isoformat()}"' in board.text
            assert f"{demo.day:%A} {demo.day.day} {demo.day:%B %Y}" in board.text
            schedule = await client.get(
                "/api/v1/schedule", params={"date": demo.day.isoformat()}, headers=headers
            )
            assert schedule.status_code == 200
            served_now = datetime.fromisoformat(schedule.json()["generated_at"])
            opening = datetime.combine(demo.day, data.DEMO_NOW, tzinfo=tz)
            assert opening <= served_now < opening + timedelta(minutes=10)
    finally:
        await app.state.engine.dispose()


@CASES
def test_the_demo_seeds_and_serves_a_full_working_day(instant: datetime, tmp_path: Path) -> None:
    with _at(instant):
        asyncio.run(_demo(instant, tmp_path))


async def _cast_headers(app: object, instant: datetime) -> dict[str, dict[str, str]]:
    """The suite's cast, with sessions and tokens minted at ``instant`` instead of T0."""
    engine = app.state.engine  # type: ignore[attr-defined]
    cast = await _seed_cast(engine, JWT_KEY)
    async with app.state.sessionmaker() as session, session.begin():  # type: ignore[attr-defined]
        await session.execute(
            update(AuthSession).values(created_at=instant, expires_at=instant + timedelta(days=1))
        )
    headers: dict[str, dict[str, str]] = {}
    roles = {"tech1": "technician", "tech2": "technician", "customer2": "customer"}
    for name, user_id in cast.user_ids.items():
        role = roles.get(name, name)
        token = issue_token(
            JWT_KEY, user_id=user_id, role=role, token_version=0,
            session_id=f"cast-session-{name}", minutes=60, now=instant,
        )  # fmt: skip
        headers[name] = {"Authorization": f"Bearer {token}"}
    headers["customer_id"] = {"id": str(cast.customer_id)}
    headers["tech1_id"] = {"id": str(cast.tech1_id)}
    return headers


def _every_day_hours() -> dict[str, list[str]]:
    return {d: ["08:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


async def _rules(data_dir: Path, traveller: time_machine.Traveller) -> None:
    settings = Settings(
        data_dir=data_dir, database_url=None, jwt_secret=JWT_KEY, notify_worker=False
    )
    tz = settings.tz
    app = create_app(settings)  # the default clock: the (travelled) wall clock
    await upgrade(app.state.engine)
    now = system_clock()
    today = now.astimezone(tz).date()
    try:
        h = await _cast_headers(app, now)
        tech_id = int(h["tech1_id"]["id"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            # "Today" is the business zone's day, wherever UTC is.
            r = await client.get("/api/v1/schedule", params={"date": today.isoformat()},
                                 headers=h["dispatcher"])  # fmt: skip
            assert r.status_code == 200
            column = next(t for t in r.json()["technicians"] if t["technician_id"] == tech_id)
            weekday = today.weekday() < 5
            # The cast works weekdays 08:00-17:00 local, on 23- and 25-hour days alike.
            if weekday:
                assert datetime.fromisoformat(column["hours_start"]).astimezone(tz).time() == time(
                    8
                )
            else:
                assert column["hours_start"] is None

            # Slots: only reachable windows, never in the past, inside local working hours.
            async with app.state.sessionmaker() as session, session.begin():
                await session.execute(update(Technician).values(working_hours=_every_day_hours()))
            r = await client.get(
                "/api/v1/schedule/slots",
                params={
                    "lat": 33.0198, "lon": -96.6989, "service_type": "chip_repair",
                    "duration_minutes": 60, "date_from": today.isoformat(),
                    "date_to": (today + timedelta(days=2)).isoformat(),
                },
                headers=h["dispatcher"],
            )  # fmt: skip
            assert r.status_code == 200, r.text
            slots = r.json()
            assert slots, "three days of an every-day shop have room"
            for slot in slots:
                start = datetime.fromisoformat(slot["start"])
                end = datetime.fromisoformat(slot["end"])
                # A window already begun is offered only while an arrival in it is possible.
                assert end > now
                local_start, local_end = start.astimezone(tz), end.astimezone(tz)
                assert time(8) <= local_start.time() and local_end.time() <= time(17)
                assert local_start.date() == local_end.date()
                assert today <= local_start.date() <= today + timedelta(days=2)

            # Working hours refuse what falls outside them on the local day: a job tomorrow at
            # 07:00 local is before the shop opens, 09:00 fits.
            tomorrow = today + timedelta(days=1)
            jid = await _quoted_job(client, h, tomorrow, tz)
            too_early = datetime.combine(tomorrow, time(7), tzinfo=tz)
            r = await client.post(f"/api/v1/jobs/{jid}/schedule",
                                  json={"technician_id": tech_id, "start": too_early.isoformat()},
                                  headers=h["dispatcher"])  # fmt: skip
            assert r.status_code == 409 and "outside_hours" in r.text, r.text
            nine = datetime.combine(tomorrow, time(9), tzinfo=tz)
            r = await client.post(f"/api/v1/jobs/{jid}/schedule",
                                  json={"technician_id": tech_id, "start": nine.isoformat()},
                                  headers=h["dispatcher"])  # fmt: skip
            assert r.status_code == 200, r.text

            # Late notices: nobody is late before the day, and by 11:30 local on it (across
            # midnight, a clock change, a new year or a month end) the customer is told.
            assert await watch_lateness(app) == []
            traveller.move_to(datetime.combine(tomorrow, time(11, 30), tzinfo=tz))
            assert await watch_lateness(app) == [jid]
    finally:
        await app.state.engine.dispose()

    # Quiet hours (21:00-08:00 local) end at the next local 08:00, on any of these days.
    until = quiet_until(now, tz, settings.quiet_hours)
    local = now.astimezone(tz)
    if time(8) <= local.time() < time(21):
        assert until is None
    else:
        assert until is not None and until.astimezone(tz).time() == time(8)
        assert timedelta(0) < until - now <= timedelta(hours=12)


async def _quoted_job(
    client: httpx.AsyncClient, h: dict[str, dict[str, str]], day: date, tz: ZoneInfo
) -> int:
    body = {
        "customer_id": int(h["customer_id"]["id"]),
        "service_type": "chip_repair",
        "site": {"address": "100 Main St, Plano, TX", "lat": 33.02, "lon": -96.70},
        "duration_minutes": 60,
        "vehicle": {"year": 2020, "make": "Honda", "model": "Civic", "vin": VIN},
    }
    r = await client.post("/api/v1/jobs", json=body, headers=h["dispatcher"])
    assert r.status_code == 201, r.text
    jid = int(r.json()["id"])
    r = await client.put(f"/api/v1/jobs/{jid}/quote", json=QUOTE, headers=h["dispatcher"])
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/jobs/{jid}/quote/approve", headers=h["dispatcher"])
    assert r.status_code == 200, r.text
    return jid


@CASES
def test_today_working_hours_slots_and_quiet_hours(instant: datetime, tmp_path: Path) -> None:
    with _at(instant) as traveller:
        asyncio.run(_rules(tmp_path, traveller))
