"""Loading technicians' days and travel legs for the pure scheduling cores; answering with them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from itertools import pairwise
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.errors import InvalidInput
from routeboard.models import Job, Technician
from routeboard.schedule.feasibility import (
    REQUIRED_SKILL,
    Conflict,
    Stop,
    TechDay,
    Travel,
    check_day,
    check_placement,
    drive_minutes,
)
from routeboard.schedule.optimize import optimize_day
from routeboard.schedule.projection import Progress, project
from routeboard.schedule.recommend import Fit, NewJob, rank, recommend
from routeboard.schedule.schemas import (
    CheckRequest,
    CheckResult,
    ConflictRead,
    DaySchedule,
    Move,
    OptimizeRequest,
    OptimizeResult,
    Recommendation,
    RecommendRequest,
    RecommendResult,
    ScheduledJob,
    Slot,
    SlotQuery,
    TechnicianDay,
    TechnicianProposal,
)
from routeboard.travel.estimate import Leg, Point
from routeboard.travel.service import TravelProvider

if TYPE_CHECKING:
    from routeboard.deps import Actor

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Jobs that hold (or held) a place on a technician's day.
ON_DAY = ("scheduled", "en_route", "in_progress", "completed", "invoiced")
# A job is fixed in time once the technician is on the way, or when the dispatcher pins it.
MOVING = ("en_route", "in_progress", "completed", "invoiced")


@dataclass(frozen=True)
class Planner:
    """What scheduling needs from outside the database: travel times and the local calendar."""

    travel: TravelProvider
    tz: ZoneInfo


def local_day(instant: datetime, tz: ZoneInfo) -> date:
    return instant.astimezone(tz).date()


def working_hours(tech: Technician, day: date, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
    span = tech.working_hours.get(DAYS[day.weekday()])
    if not span:
        return None
    start, end = (time.fromisoformat(v) for v in span)
    return datetime.combine(day, start, tzinfo=tz), datetime.combine(day, end, tzinfo=tz)


def stop_of(job: Job) -> Stop:
    assert job.scheduled_start is not None
    assert job.scheduled_end is not None
    return Stop(
        job_id=job.id,
        start=job.scheduled_start,
        end=job.scheduled_end,
        point=Point(job.site_lat, job.site_lon),
        service_type=job.service_type,
        window_start=job.window_start,
        window_end=job.window_end,
        pinned=job.pinned or job.state in MOVING,
    )


async def day_jobs(
    session: AsyncSession, day: date, tz: ZoneInfo, technician_ids: Iterable[int] | None = None
) -> dict[int, list[Job]]:
    """The day's placed jobs per technician, in start order."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    query = select(Job).where(
        Job.state.in_(ON_DAY),
        Job.technician_id.is_not(None),
        Job.scheduled_start < end,
        Job.scheduled_end > start,
    )
    if technician_ids is not None:
        query = query.where(Job.technician_id.in_(list(technician_ids)))
    out: dict[int, list[Job]] = defaultdict(list)
    for job in (await session.execute(query.order_by(Job.scheduled_start, Job.id))).scalars():
        assert job.technician_id is not None
        out[job.technician_id].append(job)
    return out


def tech_day(tech: Technician, day: date, tz: ZoneInfo, jobs: Sequence[Job]) -> TechDay:
    return TechDay(
        technician_id=tech.id,
        home=Point(tech.home_lat, tech.home_lon),
        skills=frozenset(tech.skills),
        hours=working_hours(tech, day, tz),
        stops=tuple(stop_of(j) for j in jobs),
    )


async def tech_days(
    session: AsyncSession,
    day: date,
    tz: ZoneInfo,
    technicians: Sequence[Technician],
    *,
    exclude_job_id: int | None = None,
) -> list[TechDay]:
    jobs = await day_jobs(session, day, tz, [t.id for t in technicians])
    return [
        tech_day(t, day, tz, [j for j in jobs.get(t.id, []) if j.id != exclude_job_id])
        for t in technicians
    ]


ZERO = Leg(0.0, 0.0, approximate=False, source="same place")


async def legs(
    provider: TravelProvider, pairs: Iterable[tuple[Point, Point]], depart_at: datetime
) -> Travel:
    """A lookup for exactly the legs asked for: one matrix request per origin."""
    by_origin: dict[Point, set[Point]] = defaultdict(set)
    for a, b in pairs:
        if a != b:
            by_origin[a].add(b)
    table: dict[tuple[Point, Point], Leg] = {}
    for origin, targets in by_origin.items():
        ordered = sorted(targets, key=lambda p: (p.lat, p.lon))
        row = (await provider.matrix([origin], ordered, depart_at))[0]
        table.update({(origin, b): leg for b, leg in zip(ordered, row, strict=True)})

    def lookup(a: Point, b: Point) -> Leg:
        return ZERO if a == b else table[a, b]

    return lookup


def pairs_around(day: TechDay, point: Point) -> set[tuple[Point, Point]]:
    """Every leg a placement of a job at ``point`` in ``day`` can need."""
    pairs = {(day.home, point)}
    for s in day.stops:
        pairs |= {(s.point, point), (point, s.point)}
    ordered = [day.home, *(s.point for s in day.stops)]
    pairs |= set(pairwise(ordered))
    return pairs


async def active_technician(session: AsyncSession, technician_id: int) -> Technician:
    tech = await session.get(Technician, technician_id)
    if tech is None or not tech.active:
        raise InvalidInput(
            f"technician {technician_id} does not exist or is inactive", code="no_technician"
        )
    return tech


async def placement_conflicts(
    session: AsyncSession,
    job: Job,
    tech: Technician,
    start: datetime,
    *,
    planner: Planner,
    minutes: int | None = None,
) -> tuple[Stop, list[Conflict]]:
    """Why ``job`` at ``start`` on ``tech``'s day would not fit (empty list: it fits)."""
    day = local_day(start, planner.tz)
    [tday] = await tech_days(session, day, planner.tz, [tech], exclude_job_id=job.id)
    stop = Stop(
        job_id=job.id,
        start=start,
        end=start + timedelta(minutes=minutes or job.duration_minutes),
        point=Point(job.site_lat, job.site_lon),
        service_type=job.service_type,
        window_start=job.window_start,
        window_end=job.window_end,
    )
    travel = await legs(planner.travel, pairs_around(tday, stop.point), start)
    return stop, check_placement(tday, stop, travel)


def conflict_read(c: Conflict) -> ConflictRead:
    return ConflictRead(**asdict(c))


async def check(
    session: AsyncSession, job: Job, data: CheckRequest, *, planner: Planner
) -> CheckResult:
    """The schedule endpoint's answer, as a dry run: nothing is written."""
    tech = await active_technician(session, data.technician_id)
    stop, conflicts = await placement_conflicts(
        session, job, tech, data.start, planner=planner, minutes=data.duration_minutes
    )
    return CheckResult(
        feasible=not conflicts,
        start=stop.start,
        end=stop.end,
        conflicts=[conflict_read(c) for c in conflicts],
    )


def _dates(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


async def _fits(
    session: AsyncSession,
    job: NewJob,
    dates: Sequence[date],
    *,
    planner: Planner,
    now: datetime,
    limit: int,
) -> tuple[list[Fit], dict[int, Technician]]:
    techs = list(
        (
            await session.execute(
                select(Technician).where(Technician.active.is_(True)).order_by(Technician.id)
            )
        ).scalars()
    )
    qualified = [t for t in techs if REQUIRED_SKILL.get(job.service_type, "") in t.skills]
    fits: list[Fit] = []
    for day in dates:
        days = await tech_days(session, day, planner.tz, qualified, exclude_job_id=job.job_id)
        pairs: set[tuple[Point, Point]] = set()
        for tday in days:
            pairs |= pairs_around(tday, job.point)
        noon = datetime.combine(day, time(12), tzinfo=planner.tz)
        travel = await legs(planner.travel, pairs, noon)
        fits += recommend(days, job, travel, not_before=now, limit=limit)
    return rank(fits, limit), {t.id: t for t in techs}


async def recommend_for_job(
    session: AsyncSession, row: Job, data: RecommendRequest, *, actor: Actor, planner: Planner
) -> RecommendResult:
    """The best placements for an existing job across every qualified technician and day."""
    job = NewJob(
        job_id=row.id,
        point=Point(row.site_lat, row.site_lon),
        minutes=row.duration_minutes,
        service_type=row.service_type,
        window_start=row.window_start,
        window_end=row.window_end,
    )
    fits, techs = await _fits(
        session,
        job,
        _dates(data.date_from, data.date_to),
        planner=planner,
        now=actor.at,
        limit=data.limit,
    )
    return RecommendResult(
        job_id=row.id,
        items=[
            Recommendation(technician_name=techs[f.technician_id].name, **asdict(f)) for f in fits
        ],
    )


async def open_slots(
    session: AsyncSession, query: SlotQuery, *, actor: Actor, planner: Planner
) -> list[Slot]:
    """Arrival windows a new job at a place could really be booked into (for online booking)."""
    slots: list[Slot] = []
    width = timedelta(hours=query.window_hours)
    for day in _dates(query.date_from, query.date_to):
        opening = datetime.combine(day, time(8), tzinfo=planner.tz)
        closing = datetime.combine(day, time(17), tzinfo=planner.tz)
        window_start = opening
        while window_start + width <= closing:
            job = NewJob(
                job_id=0,
                point=Point(query.lat, query.lon),
                minutes=query.duration_minutes,
                service_type=query.service_type,
                window_start=window_start,
                window_end=window_start + width,
            )
            fits, _ = await _fits(session, job, [day], planner=planner, now=actor.at, limit=100)
            techs = {f.technician_id for f in fits}
            if techs:
                slots.append(
                    Slot(start=window_start, end=window_start + width, technicians=len(techs))
                )
            window_start += width
    return slots


async def day_schedule(
    session: AsyncSession,
    day: date,
    *,
    actor: Actor,
    planner: Planner,
    technician_id: int | None = None,
) -> DaySchedule:
    """Per technician: the day's jobs in order with drive gaps, projected arrivals and conflicts."""
    query = select(Technician).where(Technician.active.is_(True)).order_by(Technician.name)
    if actor.role == "technician":
        query = query.where(Technician.id == actor.technician_id)
    elif technician_id is not None:
        query = query.where(Technician.id == technician_id)
    techs = list((await session.execute(query)).scalars())
    jobs_by_tech = await day_jobs(session, day, planner.tz, [t.id for t in techs])
    out: list[TechnicianDay] = []
    for tech in techs:
        jobs = jobs_by_tech.get(tech.id, [])
        tday = tech_day(tech, day, planner.tz, jobs)
        points = [tday.home, *(s.point for s in tday.stops)]
        travel = await legs(
            planner.travel,
            set(pairwise(points)) | pairs_from_home(tday),
            datetime.combine(day, time(8), tzinfo=planner.tz),
        )
        progress = [
            Progress(
                job_id=j.id,
                state=j.state,
                point=Point(j.site_lat, j.site_lon),
                start=j.scheduled_start or actor.at,
                minutes=j.duration_minutes,
                window_end=j.window_end,
                en_route_at=j.en_route_at,
                started_at=j.labor_started_at,
                ended_at=j.labor_ended_at,
            )
            for j in jobs
        ]
        hours = tday.hours
        projections = project(tday.home, hours[0] if hours else None, progress, actor.at, travel)
        items: list[ScheduledJob] = []
        prev_end = hours[0] if hours else None
        for job, proj in zip(jobs, projections, strict=True):
            assert job.scheduled_start is not None
            assert job.scheduled_end is not None
            gap = (job.scheduled_start - prev_end).total_seconds() / 60 if prev_end else 0.0
            items.append(
                ScheduledJob(
                    job_id=job.id,
                    state=job.state,
                    start=job.scheduled_start,
                    end=job.scheduled_end,
                    site_address=job.site_address,
                    pinned=job.pinned or job.state in MOVING,
                    override_reason=job.override_reason,
                    drive_minutes_before=proj.drive_minutes,
                    gap_minutes_before=round(gap, 1),
                    projected_arrival=proj.arrival,
                    projected_start=proj.start,
                    projected_end=proj.end,
                    late_minutes=proj.late_minutes,
                    misses_window=proj.misses_window,
                    approximate=proj.approximate,
                )
            )
            prev_end = job.scheduled_end
        out.append(
            TechnicianDay(
                technician_id=tech.id,
                name=tech.name,
                hours_start=hours[0] if hours else None,
                hours_end=hours[1] if hours else None,
                drive_minutes=round(drive_minutes(tday, tday.stops, travel), 1),
                jobs=items,
                conflicts=[conflict_read(c) for c in check_day(tday, travel)],
            )
        )
    return DaySchedule(date=day, generated_at=actor.at, technicians=out)


def pairs_from_home(day: TechDay) -> set[tuple[Point, Point]]:
    return {(day.home, s.point) for s in day.stops}


async def _legs_for_day(planner: Planner, tday: TechDay, day: date) -> Travel:
    points = [tday.home, *(s.point for s in tday.stops)]
    pairs = {(a, b) for a in points for b in points if a != b}
    return await legs(planner.travel, pairs, datetime.combine(day, time(8), tzinfo=planner.tz))


async def propose_optimization(
    session: AsyncSession, data: OptimizeRequest, *, planner: Planner
) -> OptimizeResult:
    """A better order for each technician's unpinned jobs; nothing is written."""
    techs = list(
        (
            await session.execute(select(Technician).where(Technician.id.in_(data.technician_ids)))
        ).scalars()
    )
    missing = set(data.technician_ids) - {t.id for t in techs}
    if missing:
        raise InvalidInput(f"unknown technicians: {sorted(missing)}", code="unknown_technician")
    out: list[TechnicianProposal] = []
    # The limit is the request's budget, shared by its technicians, so a request stays bounded.
    each = max(0.2, data.time_limit_seconds / len(techs))
    for tday in await tech_days(session, data.date, planner.tz, techs):
        travel = await _legs_for_day(planner, tday, data.date)
        proposal = await anyio.to_thread.run_sync(
            partial(optimize_day, tday, travel, time_limit_seconds=each)
        )
        previous = {s.job_id: s.start for s in tday.stops}
        moves = [
            Move(
                job_id=s.job_id,
                technician_id=tday.technician_id,
                start=s.start,
                end=s.end,
                previous_start=previous[s.job_id],
            )
            for s in proposal.order
            if s.start != previous[s.job_id]
        ]
        out.append(
            TechnicianProposal(
                technician_id=tday.technician_id,
                drive_minutes_before=round(proposal.drive_before, 1),
                drive_minutes_after=round(proposal.drive_after, 1),
                moves=moves,
            )
        )
    return OptimizeResult(date=data.date, technicians=out)


async def day_conflicts(
    session: AsyncSession, tech: Technician, day: date, *, planner: Planner
) -> list[Conflict]:
    """Every conflict in the technician's day as it now stands (flushed state)."""
    [tday] = await tech_days(session, day, planner.tz, [tech])
    return check_day(tday, await _legs_for_day(planner, tday, day))
