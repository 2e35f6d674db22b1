"""The demo day: seeded twice into a scratch folder, then checked as a dispatcher would see it."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.app import create_app
from routeboard.audit.service import verify_all_chains
from routeboard.clock import ShiftedClock
from routeboard.config import Settings
from routeboard.db import make_engine, make_sessionmaker
from routeboard.demo import data
from routeboard.demo.service import DemoDay, local, plan, reset_and_seed
from routeboard.jobs.states import ACTIVE_ON_DAY, State
from routeboard.jobs.vin import vin_problem
from routeboard.models import (
    AuditEntry,
    Customer,
    Event,
    Feedback,
    Invoice,
    Job,
    Photo,
    PollVote,
    PulseAnswer,
    Quote,
    Signature,
    Technician,
    User,
    Vehicle,
)
from routeboard.schedule.service import Planner, day_conflicts
from routeboard.travel.service import EstimateProvider

pytestmark = pytest.mark.anyio

JWT_KEY = "demo-test-signing-key-0123456789abcdef"
# When a new user would try it: the demo shows the Friday before.
SATURDAY_EVENING = datetime(2026, 12, 6, 0, 30, tzinfo=UTC)
TABLES: tuple[type[Any], ...] = (
    User,
    Technician,
    Customer,
    Vehicle,
    Job,
    Quote,
    Photo,
    Signature,
    Invoice,
    AuditEntry,
    Event,
)


@dataclass
class Demo:
    settings: Settings
    day: date
    logins: list[tuple[str, str, str]]
    first_counts: dict[str, int]


async def _counts(session: AsyncSession) -> dict[str, int]:
    return {
        t.__tablename__: (await session.execute(select(func.count()).select_from(t))).scalar_one()
        for t in TABLES
    }


@asynccontextmanager
async def _opened(settings: Settings) -> AsyncIterator[AsyncSession]:
    engine = make_engine(settings.effective_database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            yield session
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("demo"), database_url=None, jwt_secret=JWT_KEY
    )
    day = DemoDay.near(SATURDAY_EVENING, settings.tz).day
    await reset_and_seed(settings, day=day)
    async with _opened(settings) as session:
        first = await _counts(session)
    logins = await reset_and_seed(settings, day=day)
    return Demo(settings, day, logins, first)


@pytest.fixture
async def session(demo: Demo) -> AsyncIterator[AsyncSession]:
    async with _opened(demo.settings) as s:
        yield s


async def _jobs(session: AsyncSession) -> list[Job]:
    return list((await session.execute(select(Job).order_by(Job.id))).scalars())


async def test_a_second_run_starts_afresh(demo: Demo, session: AsyncSession) -> None:
    assert await _counts(session) == demo.first_counts
    photos = list((demo.settings.upload_dir / "photos").iterdir())
    signatures = list((demo.settings.upload_dir / "signatures").iterdir())
    assert len(photos) == demo.first_counts["photos"]
    assert len(signatures) == demo.first_counts["signatures"]


async def test_the_shop_has_a_crew_and_a_full_board(session: AsyncSession) -> None:
    techs = list((await session.execute(select(Technician))).scalars())
    assert len(techs) >= 4
    assert len({s for t in techs for s in t.skills}) >= 3
    assert any("sat" in t.working_hours for t in techs)
    jobs = await _jobs(session)
    assert 18 <= len(jobs) <= 24
    assert {j.state for j in jobs} == {s.value for s in State}
    quotes = {q.job_id: q.status for q in (await session.execute(select(Quote))).scalars()}
    quoted = [quotes.get(j.id) for j in jobs if j.state == State.QUOTED]
    assert "draft" in quoted
    assert "approved" in quoted
    addresses = [j.site_address for j in jobs]
    for city in data.CITIES:
        assert any(f", {city}, TX" in a for a in addresses), city
    vins = (await session.execute(select(Vehicle.vin))).scalars()
    assert all(vin_problem(v) is None for v in vins)


async def test_every_audit_chain_verifies(session: AsyncSession) -> None:
    reports = await verify_all_chains(session)
    assert reports
    assert all(r.verified for r in reports), [r.broken for r in reports if not r.verified]


async def test_the_trail_reads_like_a_day_of_real_people(demo: Demo, session: AsyncSession) -> None:
    tz = demo.settings.tz
    entries = list((await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars())
    by_job: dict[int, list[AuditEntry]] = defaultdict(list)
    for e in entries:
        by_job[e.job_id].append(e)
    now = local(demo.day, data.DEMO_NOW, tz)
    for trail in by_job.values():
        stamps = [e.at for e in trail]
        assert stamps == sorted(stamps)
        assert stamps[-1] <= now
    roles = Counter((e.action.split(".")[0], e.actor_role) for e in entries)
    assert roles[("photo", "technician")] > 0
    assert roles[("job", "dispatcher")] > 0
    assert {e.actor_role for e in entries} <= {"dispatcher", "technician", "customer"}
    assert {e.action for e in entries if e.actor_role == "customer"} == {
        "feedback.rating", "feedback.arrival"
    }  # fmt: skip


async def test_customers_and_staff_have_had_their_say(session: AsyncSession) -> None:
    """The feedback page opens on something: ratings of the finished jobs (one of them poor,
    with a late arrival), the technicians' pulse and a ranked feature poll."""
    ratings = list(
        (await session.execute(select(Feedback).where(Feedback.kind == "rating"))).scalars()
    )
    finished = [j for j in data.JOBS if j.state in (State.COMPLETED, State.INVOICED)]
    assert len(ratings) == min(len(finished), len(data.RATINGS))
    assert min(r.rating or 0 for r in ratings) <= 2
    assert any(r.sentiment is not None and r.sentiment < -0.05 for r in ratings)
    pulse = (await session.execute(select(func.count()).select_from(PulseAnswer))).scalar_one()
    votes = (await session.execute(select(func.count()).select_from(PollVote))).scalar_one()
    assert pulse == votes == len(data.STAFF_VOICE)


async def test_no_technician_is_in_two_places_at_once(demo: Demo, session: AsyncSession) -> None:
    tz = demo.settings.tz
    days: dict[int, list[tuple[datetime, datetime, State]]] = defaultdict(list)
    for job in await _jobs(session):
        if job.technician_id is None or job.state == State.CANCELLED:
            continue
        assert job.scheduled_start is not None
        assert job.scheduled_end is not None
        days[job.technician_id].append((job.scheduled_start, job.scheduled_end, State(job.state)))
    assert days
    for jobs in days.values():
        jobs.sort()
        for start, end, _ in jobs:
            assert start.astimezone(tz).time() >= time(8)
            assert end.astimezone(tz).time() <= time(17)
        for (_, end, _), (start, _, _) in pairwise(jobs):
            assert start >= end
        active = [(s, e) for s, e, state in jobs if state in ACTIVE_ON_DAY]
        for (_, end), (start, _) in pairwise(active):
            assert end <= start


async def test_every_technicians_day_is_drivable(demo: Demo, session: AsyncSession) -> None:
    """Re-checked from scratch with the offline estimate: no travel, hours or skill conflicts."""
    planner = Planner(EstimateProvider(demo.settings.tz), demo.settings.tz)
    for tech in (await session.execute(select(Technician))).scalars():
        assert await day_conflicts(session, tech, demo.day, planner=planner) == []


async def test_the_printed_logins_work(demo: Demo) -> None:
    tz = demo.settings.tz
    roles = {role for _, _, role in demo.logins}
    assert roles == {"admin", "dispatcher", "technician", "customer"}
    app = create_app(demo.settings, clock=ShiftedClock(local(demo.day, data.DEMO_NOW, tz)))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for username, password, _ in demo.logins:
                assert len(password) >= 8
                r = await client.post(
                    "/api/v1/auth/token", data={"username": username, "password": password}
                )
                assert r.status_code == 200, (username, r.text)
    finally:
        await app.state.engine.dispose()


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 3, 9),  # the Monday after clocks spring forward
        date(2026, 11, 2),  # the Monday after they fall back
        date(2026, 12, 5),  # a Saturday
    ],
)
def test_the_plan_fits_any_day(day: date) -> None:
    tz = Settings().tz
    steps = plan(day, tz)
    assert steps == sorted(steps)
    assert steps[-1].at <= local(day, data.DEMO_NOW, tz)


async def test_it_refuses_to_reset_a_configured_database(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="sqlite+aiosqlite:///elsewhere.db")
    with pytest.raises(ValueError, match="database_url"):
        await reset_and_seed(settings, day=date(2026, 12, 4))


@pytest.mark.parametrize(
    ("local_now", "shown"),
    [
        (datetime(2026, 12, 4, 18, 0), date(2026, 12, 4)),  # a Friday evening: that Friday
        (datetime(2026, 12, 5, 15, 0), date(2026, 12, 4)),  # Saturday: the Friday before
        (datetime(2026, 12, 6, 23, 30), date(2026, 12, 7)),  # Sunday night: the Monday after
        (datetime(2026, 12, 7, 0, 10), date(2026, 12, 7)),  # Monday just past midnight
        (datetime(2026, 12, 31, 23, 59), date(2026, 12, 31)),  # New Year's Eve, a Thursday
        (datetime(2027, 1, 2, 9, 0), date(2027, 1, 1)),  # across the new year, backwards
    ],
)
def test_the_demo_shows_the_nearest_working_day(local_now: datetime, shown: date) -> None:
    tz = Settings().tz
    demo = DemoDay.near(local_now.replace(tzinfo=tz), tz)
    assert demo.day == shown
    assert demo.clock().astimezone(tz).date() == shown
    if shown != local_now.date():
        assert "the nearest working day to today" in demo.note()
