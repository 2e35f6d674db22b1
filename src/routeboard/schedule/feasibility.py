"""Whether a job fits a technician's day, in numbers (pure: no I/O, no ORM).

A day is the technician's working interval, their home base, their skills, and the jobs already
placed, in order. A placement fits when the job overlaps nothing, the technician can drive to it
from wherever they were before (home base at the start of the day, else the previous job's site)
and on to the next job in time, it lies inside working hours, it starts inside the customer's
arrival window, and the technician has the skill. Each failure is one ``Conflict`` with the
minutes that explain it, so the dispatcher sees *why* and by how much.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from routeboard.travel.estimate import Leg, Point

ConflictKind = Literal["overlap", "travel", "outside_hours", "outside_window", "skill"]
Travel = Callable[[Point, Point], Leg]

# Service types are named after the skill they need.
REQUIRED_SKILL = {
    "windshield_replacement": "windshield_replacement",
    "chip_repair": "chip_repair",
    "adas_calibration": "adas_calibration",
    "side_back_glass": "side_back_glass",
}


@dataclass(frozen=True)
class Stop:
    job_id: int
    start: datetime
    end: datetime
    point: Point
    service_type: str = ""
    window_start: datetime | None = None
    window_end: datetime | None = None
    pinned: bool = False

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60


@dataclass(frozen=True)
class TechDay:
    technician_id: int
    home: Point
    skills: frozenset[str]
    # The working interval of that day; None on a day off.
    hours: tuple[datetime, datetime] | None
    stops: tuple[Stop, ...]  # the other jobs of the day, by start


@dataclass(frozen=True)
class Conflict:
    kind: ConflictKind
    job_id: int
    other_job_id: int | None = None
    travel_minutes: float | None = None
    available_minutes: float | None = None
    shortfall_minutes: float | None = None
    approximate: bool = False


def _minutes(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 60


def _r(x: float) -> float:
    return round(x, 1)


def _travel(
    job_id: int, other: int | None, leg: Leg, leave: datetime, arrive_by: datetime
) -> Conflict | None:
    available = _minutes(leave, arrive_by)
    if leg.minutes <= available + 1e-9:
        return None
    return Conflict(
        "travel",
        job_id,
        other,
        travel_minutes=_r(leg.minutes),
        available_minutes=_r(available),
        shortfall_minutes=_r(leg.minutes - available),
        approximate=leg.approximate,
    )


def check_placement(day: TechDay, job: Stop, travel: Travel) -> list[Conflict]:
    """Every reason ``job`` at ``job.start`` does not fit ``day`` (empty: it fits)."""
    conflicts: list[Conflict] = []
    need = REQUIRED_SKILL.get(job.service_type)
    if need and need not in day.skills:
        conflicts.append(Conflict("skill", job.job_id))
    others = [s for s in day.stops if s.job_id != job.job_id]
    for s in others:
        if s.start < job.end and s.end > job.start:
            overlap = _minutes(max(s.start, job.start), min(s.end, job.end))
            conflicts.append(
                Conflict("overlap", job.job_id, s.job_id, shortfall_minutes=_r(overlap))
            )
    if day.hours is None:
        conflicts.append(Conflict("outside_hours", job.job_id, available_minutes=0.0))
    else:
        open_, close = day.hours
        outside = max(0.0, _minutes(job.start, open_)) + max(0.0, _minutes(close, job.end))
        if outside > 0:
            conflicts.append(
                Conflict(
                    "outside_hours",
                    job.job_id,
                    available_minutes=_r(_minutes(open_, close)),
                    shortfall_minutes=_r(outside),
                )
            )
    if job.window_start and job.window_end:
        early = _minutes(job.start, job.window_start)
        late = _minutes(job.window_end, job.start)
        if early > 0 or late > 0:
            conflicts.append(
                Conflict("outside_window", job.job_id, shortfall_minutes=_r(max(early, late)))
            )
    before = [s for s in others if s.end <= job.start]
    after = [s for s in others if s.start >= job.end]
    prev = max(before, key=lambda s: s.end, default=None)
    nxt = min(after, key=lambda s: s.start, default=None)
    if prev is not None:
        found = _travel(job.job_id, prev.job_id, travel(prev.point, job.point), prev.end, job.start)
    elif day.hours is not None and not any(s.start < job.start for s in others):
        # The first job of the day: the technician leaves home base when the day starts.
        found = _travel(job.job_id, None, travel(day.home, job.point), day.hours[0], job.start)
    else:
        found = None
    if found:
        conflicts.append(found)
    if nxt is not None:
        found = _travel(job.job_id, nxt.job_id, travel(job.point, nxt.point), job.end, nxt.start)
        if found:
            conflicts.append(found)
    return conflicts


def check_day(day: TechDay, travel: Travel) -> list[Conflict]:
    """Every conflict in a whole day, re-checked from scratch (each job against its neighbours)."""
    seen: set[tuple[object, ...]] = set()
    out: list[Conflict] = []
    for stop in day.stops:
        rest = TechDay(day.technician_id, day.home, day.skills, day.hours, day.stops)
        for c in check_placement(rest, stop, travel):
            # A pair's travel or overlap conflict is found from both sides; keep it once.
            key = (
                (c.kind, *sorted((c.job_id, c.other_job_id or 0)))
                if c.other_job_id
                else (
                    c.kind,
                    c.job_id,
                )
            )
            if key not in seen:
                seen.add(key)
                out.append(c)
    return out


def drive_minutes(day: TechDay, order: Sequence[Stop], travel: Travel) -> float:
    """Minutes of driving to visit ``order`` from home base (the day ends at the last site)."""
    total, here = 0.0, day.home
    for stop in order:
        total += travel(here, stop.point).minutes
        here = stop.point
    return total
