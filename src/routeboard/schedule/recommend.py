"""Where a new job fits best across technicians (pure).

For every qualified technician and every gap in their day (before the first job, between two
jobs, after the last), the earliest start is computed directly — arrive from the previous site
(or home base at the start of the day), not before the customer's window opens — and the
placement is kept only if ``check_placement`` agrees it fits, so a recommendation is never one the
schedule endpoint would refuse. Candidates rank by earliest start, then least added driving, then
the lighter day.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from routeboard.schedule.feasibility import (
    REQUIRED_SKILL,
    Conflict,
    Stop,
    TechDay,
    Travel,
    check_placement,
)
from routeboard.travel.estimate import Point

STEP = timedelta(minutes=5)  # starts are offered on a 5-minute grid, as a dispatcher books


@dataclass(frozen=True)
class NewJob:
    job_id: int
    point: Point
    minutes: int
    service_type: str
    window_start: datetime | None = None
    window_end: datetime | None = None


@dataclass(frozen=True)
class Fit:
    technician_id: int
    start: datetime
    end: datetime
    position: int  # index among the day's jobs where it goes
    drive_in_minutes: float
    added_drive_minutes: float
    booked_minutes: float
    approximate: bool
    explanation: str


def _ceil(t: datetime, origin: datetime) -> datetime:
    steps = math.ceil((t - origin) / STEP - 1e-9)
    return origin + steps * STEP


def fits_for_day(day: TechDay, job: NewJob, travel: Travel, *, not_before: datetime) -> list[Fit]:
    """Every feasible placement of ``job`` in ``day`` at its earliest start per gap."""
    need = REQUIRED_SKILL.get(job.service_type)
    if day.hours is None or (need and need not in day.skills):
        return []
    open_, close = day.hours
    stops = sorted((s for s in day.stops if s.job_id != job.job_id), key=lambda s: s.start)
    booked = sum(s.minutes for s in stops)
    length = timedelta(minutes=job.minutes)
    out: list[Fit] = []
    for i in range(len(stops) + 1):
        prev = stops[i - 1] if i else None
        nxt = stops[i] if i < len(stops) else None
        origin, leave = (prev.point, prev.end) if prev else (day.home, open_)
        leg_in = travel(origin, job.point)
        earliest = max(leave + timedelta(minutes=leg_in.minutes), not_before, open_)
        if job.window_start:
            earliest = max(earliest, job.window_start)
        start = _ceil(earliest, open_).astimezone(UTC)
        end = start + length
        if job.window_end and start > job.window_end:
            continue
        if end > close or (nxt is not None and end > nxt.start):
            continue
        leg_out = travel(job.point, nxt.point) if nxt else None
        if nxt and leg_out and end + timedelta(minutes=leg_out.minutes) > nxt.start:
            continue
        candidate = Stop(
            job.job_id, start, end, job.point, job.service_type, job.window_start, job.window_end
        )
        conflicts: list[Conflict] = check_placement(day, candidate, travel)
        if conflicts:
            continue
        direct = travel(origin, nxt.point).minutes if nxt else 0.0
        added = leg_in.minutes + (leg_out.minutes if leg_out else 0.0) - direct
        after = f"after job {prev.job_id}" if prev else "first of the day, from home base"
        before = f", {leg_out.minutes:.0f} min before job {nxt.job_id}" if nxt and leg_out else ""
        out.append(
            Fit(
                technician_id=day.technician_id,
                start=start,
                end=end,
                position=i,
                drive_in_minutes=round(leg_in.minutes, 1),
                added_drive_minutes=round(added, 1),
                booked_minutes=booked,
                approximate=leg_in.approximate or bool(leg_out and leg_out.approximate),
                explanation=f"{after}: {leg_in.minutes:.0f} min drive in{before}; "
                f"adds {added:.0f} min of driving",
            )
        )
    return out


def rank(fits: Sequence[Fit], limit: int) -> list[Fit]:
    return sorted(
        fits, key=lambda f: (f.start, f.added_drive_minutes, f.booked_minutes, f.technician_id)
    )[:limit]


def recommend(
    days: Sequence[TechDay], job: NewJob, travel: Travel, *, not_before: datetime, limit: int
) -> list[Fit]:
    fits = [f for day in days for f in fits_for_day(day, job, travel, not_before=not_before)]
    return rank(fits, limit)
