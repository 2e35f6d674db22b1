"""Technicians' status as they report it, and when each was last heard from.

This is the manual part of availability: a technician's own taps (status buttons, job
transitions). Device positions and derived states join it with the availability issue.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from routeboard.access import access_technician
from routeboard.availability.cache import StateCache, lookup, read_states
from routeboard.availability.geofence import Fence, FenceState, Fix, step_all
from routeboard.availability.schemas import TechnicianStatusRead
from routeboard.config import Settings
from routeboard.events.schemas import (
    AlertCleared,
    AlertRaised,
    JobEta,
    TechnicianGeofence,
    TechnicianStatusChanged,
)
from routeboard.events.service import record_event
from routeboard.models import Branch, Job, Technician, TechnicianStatus
from routeboard.notify.service import queue_message
from routeboard.schedule.service import Planner
from routeboard.travel.estimate import Point

if TYPE_CHECKING:
    from routeboard.deps import Actor

# The status a job transition implies for its technician.
STATUS_OF_ACTION = {"start_travel": "en_route", "start_work": "working", "complete": "available"}


async def set_status(
    session: AsyncSession, technician_id: int, status: str, *, at: datetime
) -> TechnicianStatus:
    """Record ``status`` (and that the technician was heard from) and tell the board."""
    row = await session.get(TechnicianStatus, technician_id, with_for_update=True)
    if row is None:
        row = TechnicianStatus(
            technician_id=technician_id, status=status, since=at, last_seen_at=at
        )
        session.add(row)
    elif row.status != status:
        row.status, row.since = status, at
    row.last_seen_at = at
    await session.flush()
    await announce_status(session, row, at=at)
    return row


async def announce_status(
    session: AsyncSession, row: TechnicianStatus, *, at: datetime, stale: bool = False
) -> None:
    """Tell the board the status ``row`` now holds (a ``technician.status`` event)."""
    await record_event(
        session,
        TechnicianStatusChanged(
            technician_id=row.technician_id, status=row.status, since=row.since,
            last_seen_at=row.last_seen_at, stale=stale,
        ),
        at=at,
    )  # fmt: skip


async def report_status(
    session: AsyncSession, technician_id: int, status: str, *, actor: Actor
) -> TechnicianStatus:
    """A technician's own status tap (or the office setting it for them)."""
    await access_technician(session, actor, technician_id)
    return await set_status(session, technician_id, status, at=actor.at)


async def visible_statuses(
    session: AsyncSession,
    actor: Actor,
    *,
    now: datetime,
    ttl: timedelta,
    branch_id: int | None = None,
    cache: StateCache | None = None,
) -> list[TechnicianStatusRead]:
    """The office sees every active technician (of one branch, if asked); a technician
    themself; customers nobody. From ``cache`` where it holds them, else the database."""
    query = select(Technician.id).where(Technician.active.is_(True))
    if branch_id is not None:
        query = query.where(Technician.branch_id == branch_id)
    if actor.role == "technician":
        query = query.where(Technician.id == actor.technician_id)
    elif not actor.is_staff:
        return []
    ids = list((await session.execute(query)).scalars())
    return with_staleness(await lookup(session, cache, ids), now=now, ttl=ttl)


async def statuses(
    session: AsyncSession, technician_ids: list[int], *, now: datetime, ttl: timedelta
) -> list[TechnicianStatusRead]:
    """From the database, as of this transaction."""
    states = [read for _, read in await read_states(session, technician_ids)]
    return with_staleness(states, now=now, ttl=ttl)


def with_staleness(
    states: list[TechnicianStatusRead], *, now: datetime, ttl: timedelta
) -> list[TechnicianStatusRead]:
    """Judged when read, not when cached: a copy does not know how long it has been kept."""
    return [
        s.model_copy(
            update={
                "stale": s.status == OFFLINE or s.last_seen_at is None or s.last_seen_at < now - ttl
            }
        )
        for s in states
    ]


OFFLINE = "offline"
STATUS_OF_JOB = {"en_route": "en_route", "in_progress": "working"}


async def mark_offline(session: AsyncSession, *, now: datetime, ttl: timedelta) -> list[int]:
    """Technicians not heard from within ``ttl`` become ``offline``: once each (one event),
    not at every sweep. Returns who went offline."""
    rows = (
        await session.execute(
            select(TechnicianStatus)
            .where(TechnicianStatus.last_seen_at < now - ttl, TechnicianStatus.status != OFFLINE)
            .with_for_update()
        )
    ).scalars()
    gone = []
    for row in rows:
        row.status, row.since = OFFLINE, now
        gone.append(row.technician_id)
        await announce_status(session, row, at=now, stale=True)
    await session.flush()
    return gone


async def back_online(session: AsyncSession, technician_id: int) -> str:
    """The status to resume with after being offline: what their active job says, else
    available."""
    state = (
        await session.execute(
            select(Job.state).where(
                Job.technician_id == technician_id, Job.state.in_(list(STATUS_OF_JOB))
            )
        )
    ).scalar()
    return STATUS_OF_JOB.get(state or "", "available")


@dataclass(frozen=True)
class AvailabilityRules:
    """What deriving availability from positions needs from settings and the outside."""

    site_radius_m: float = 150
    dwell_seconds: float = 60
    exit_factor: float = 1.2
    planner: Planner | None = None  # travel times for ETAs; None: no ETAs
    eta_every_seconds: float = 30
    late_alert_minutes: float = 5

    @classmethod
    def of(cls, app: Starlette) -> AvailabilityRules:
        settings: Settings = app.state.settings
        return cls(
            settings.geofence_site_radius_m,
            settings.geofence_dwell_seconds,
            settings.geofence_exit_factor,
            app.state.planner,
            settings.eta_every_seconds,
            settings.late_alert_minutes,
        )


def _state_of(raw: dict[str, Any]) -> FenceState:
    def when(name: str) -> datetime | None:
        value = raw.get(name)
        return datetime.fromisoformat(value) if value else None

    return FenceState(
        inside=bool(raw.get("inside")),
        pending_since=when("pending_since"),
        last_at=when("last_at"),
        since=when("since"),
    )


def _raw_of(state: FenceState) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "inside": state.inside,
        "pending_since": iso(state.pending_since),
        "last_at": iso(state.last_at),
        "since": iso(state.since),
    }


@dataclass
class Whereabouts:
    """What a technician's positions are judged against, loaded once per batch of reports:
    their shop's fence, the site of the job they are driving to, and that job."""

    fences: list[Fence]
    active: Job | None


async def whereabouts(
    session: AsyncSession, technician_ids: Collection[int], *, rules: AvailabilityRules
) -> dict[int, Whereabouts]:
    """Each technician's fences and active job, in three queries however many there are."""
    query = select(Technician.id, Technician.branch_id).where(Technician.id.in_(technician_ids))
    techs = {tid: branch_id for tid, branch_id in await session.execute(query)}
    branch_ids = {b for b in techs.values() if b is not None}
    branches: dict[int, Branch] = {}
    if branch_ids:
        shops = select(Branch).where(Branch.id.in_(branch_ids), Branch.active.is_(True))
        branches = {b.id: b for b in (await session.execute(shops)).scalars()}
    jobs = select(Job).where(
        Job.technician_id.in_(list(techs)), Job.state.in_(["en_route", "in_progress"])
    )
    active: dict[int, Job] = {}
    for job in (await session.execute(jobs)).scalars():
        assert job.technician_id is not None
        active.setdefault(job.technician_id, job)
    found: dict[int, Whereabouts] = {}
    for tid, branch_id in techs.items():
        fences: list[Fence] = []
        branch = branches.get(branch_id) if branch_id is not None else None
        if branch is not None:
            fences.append(Fence(f"branch:{branch.id}", branch.lat, branch.lon, branch.radius_m))
        current = active.get(tid)
        if current is not None and current.state == "en_route":
            site = Fence(
                f"job:{current.id}", current.site_lat, current.site_lon, rules.site_radius_m
            )
            fences.append(site)
        found[tid] = Whereabouts(fences, current)
    return found


async def apply_fix(
    session: AsyncSession,
    row: TechnicianStatus,
    fix: Fix,
    where: Whereabouts,
    *,
    rules: AvailabilityRules,
    now: datetime,
) -> str | None:
    """Run a new position through the technician's fences (their shop, the job they are
    driving to). Arriving at the job site while en route makes them ``on_site``; arriving at
    the shop with no active job makes them ``available``. Returns the new status, if any."""
    if not where.fences and not row.fences:
        return None
    states = {k: _state_of(v) for k, v in (row.fences or {}).items()}
    new_states, moves = step_all(
        states, where.fences, fix, dwell_seconds=rules.dwell_seconds,
        exit_factor=rules.exit_factor,
    )  # fmt: skip
    row.fences = {k: _raw_of(v) for k, v in new_states.items()}
    status: str | None = None
    for key, transition in moves:
        place, _, ident = key.partition(":")
        await record_event(
            session,
            TechnicianGeofence(
                technician_id=row.technician_id, transition=transition, place=place,
                place_id=int(ident), at=new_states[key].since or fix.at,
            ),
            at=now,
            job=where.active if place == "job" else None,
        )  # fmt: skip
        if transition != "arrive":
            continue
        if place == "job" and row.status == "en_route":
            status = "on_site"
            if where.active is not None:
                await _arrived(session, where.active, at=new_states[key].since or fix.at)
        elif place == "branch" and where.active is None:
            status = "available"
    return status


async def _arrived(session: AsyncSession, job: Job, *, at: datetime) -> None:
    """The first arrival at the site: recorded on the job, and the customer is told (once;
    driving off and back does not tell them again)."""
    if job.arrived_at is not None:
        return
    job.arrived_at = at
    tech = await session.get(Technician, job.technician_id) if job.technician_id else None
    await queue_message(
        session, kind="arrived", job=job, at=at,
        payload={"technician_first_name": tech.name.split()[0] if tech else None},
    )  # fmt: skip


async def update_eta(
    session: AsyncSession, job: Job | None, fix: Fix, *, rules: AvailabilityRules, now: datetime
) -> Job | None:
    """While a technician drives to a job, estimate the arrival from their newest position
    (at most once per ``eta_every_seconds``), tell the office and the job's customer, and raise
    an alert when it misses the promise (the window's end, else the start) by more than
    ``late_alert_minutes``; clear it when the estimate is back on time."""
    if rules.planner is None or job is None or job.state != "en_route":
        return None
    if job.eta_at is not None and (fix.at - job.eta_at).total_seconds() < rules.eta_every_seconds:
        return None
    origin, site = Point(fix.lat, fix.lon), Point(job.site_lat, job.site_lon)
    [[leg]] = await rules.planner.travel.matrix([origin], [site], fix.at)
    eta = fix.at + timedelta(minutes=leg.minutes)
    promised = job.window_end or job.scheduled_start
    late = max(0.0, (eta - promised).total_seconds() / 60) if promised else 0.0
    job.eta, job.eta_at = eta, fix.at
    await record_event(
        session,
        JobEta(technician_id=job.technician_id, eta=eta, minutes=round(leg.minutes, 1),
               approximate=leg.approximate, late_minutes=round(late, 1)),
        at=now, job=job,
    )  # fmt: skip
    missing = late > rules.late_alert_minutes
    if missing and not job.late_alert:
        job.late_alert = True
        text = f"job {job.id} is projected {late:.0f} min past its promised time"
        await record_event(
            session,
            AlertRaised(technician_id=job.technician_id, kind="projected_late", message=text),
            at=now,
            job=job,
        )
    elif not missing and job.late_alert:
        job.late_alert = False
        cleared = AlertCleared(technician_id=job.technician_id, kind="projected_late")
        await record_event(session, cleared, at=now, job=job)
    return job


async def freshness(
    session: AsyncSession, *, now: datetime, ttl: timedelta
) -> tuple[int, int, int]:
    """(active technicians, heard from within ``ttl``, offline): the completeness figures."""
    active = select(Technician.id).where(Technician.active.is_(True))
    total = len((await session.execute(active)).all())
    rows = (
        await session.execute(
            select(TechnicianStatus.last_seen_at, TechnicianStatus.status).where(
                TechnicianStatus.technician_id.in_(active)
            )
        )
    ).all()
    fresh = sum(seen >= now - ttl for seen, _ in rows)
    offline = sum(status == OFFLINE for _, status in rows)
    return total, fresh, offline
