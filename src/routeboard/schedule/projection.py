"""Projected arrivals and lateness for the rest of a technician's day (pure).

Walks the day in order from what is known now: finished jobs end when they ended, a job in
progress ends at its start plus its duration (or now, if that has passed), a technician en route
arrives after the drive from where they set off; every later job starts when the technician can
get there, and never before its booked start. A job whose projected arrival is after its booked
start is late by the difference; one arriving after the customer's window closes misses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from routeboard.schedule.feasibility import Travel
from routeboard.travel.estimate import Point


@dataclass(frozen=True)
class Progress:
    """A job as it stands now."""

    job_id: int
    state: str
    point: Point
    start: datetime  # booked
    minutes: int
    window_end: datetime | None = None
    en_route_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True)
class Projection:
    job_id: int
    drive_minutes: float
    arrival: datetime
    start: datetime
    end: datetime
    late_minutes: float
    misses_window: bool
    approximate: bool


def project(
    home: Point, day_start: datetime | None, jobs: Sequence[Progress], now: datetime, travel: Travel
) -> list[Projection]:
    here = home
    free_at = day_start or (jobs[0].start if jobs else now)
    out: list[Projection] = []
    for job in jobs:
        leg = travel(here, job.point)
        drive = timedelta(minutes=leg.minutes)
        if job.state in ("completed", "invoiced"):
            start = job.started_at or job.start
            end = job.ended_at or start + timedelta(minutes=job.minutes)
            arrival = start
        elif job.state == "in_progress":
            start = job.started_at or job.start
            end = max(start + timedelta(minutes=job.minutes), now)
            arrival = start
        else:
            if job.state == "en_route" and job.en_route_at is not None:
                arrival = max(job.en_route_at + drive, now)
            else:
                arrival = max(free_at, now) + drive
            start = max(arrival, job.start)
            end = start + timedelta(minutes=job.minutes)
        late = max(0.0, (arrival - job.start).total_seconds() / 60)
        pending = job.state not in ("completed", "invoiced", "in_progress")
        out.append(
            Projection(
                job_id=job.job_id,
                drive_minutes=round(leg.minutes, 1),
                arrival=arrival,
                start=start,
                end=end,
                late_minutes=round(late, 1) if pending else 0.0,
                misses_window=bool(pending and job.window_end and arrival > job.window_end),
                approximate=leg.approximate,
            )
        )
        here, free_at = job.point, end
    return out
