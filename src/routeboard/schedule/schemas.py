"""Scheduling bodies: conflicts, dry-run checks, recommendations, slots and the day view."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from routeboard.db import Id
from routeboard.jobs.schemas import Instant, ServiceType, in_years

# A calendar day the schedule can be asked about (years 2000-2100).
Day = Annotated[date, AfterValidator(in_years)]


def check_range(first: date, last: date, most_days: int = 14) -> None:
    """A bounded span of days: requests must not fan out over months of schedule."""
    days = (last - first).days
    if days < 0 or days >= most_days:
        raise ValueError(f"date_to must be on or after date_from, at most {most_days} days in all")


class ConflictRead(BaseModel):
    kind: Literal["overlap", "travel", "outside_hours", "outside_window", "skill"]
    job_id: int
    other_job_id: int | None
    travel_minutes: float | None
    available_minutes: float | None
    shortfall_minutes: float | None
    approximate: bool


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: Id
    technician_id: Id
    start: Instant
    duration_minutes: int | None = Field(default=None, ge=10, le=12 * 60)


class CheckResult(BaseModel):
    feasible: bool
    start: datetime
    end: datetime
    conflicts: list[ConflictRead]


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: Id
    date_from: Day
    date_to: Day
    limit: int = Field(default=5, ge=1, le=50)

    @model_validator(mode="after")
    def _range(self) -> Self:
        check_range(self.date_from, self.date_to)
        return self


class Recommendation(BaseModel):
    technician_id: int
    technician_name: str
    start: datetime
    end: datetime
    position: int
    drive_in_minutes: float
    added_drive_minutes: float
    booked_minutes: float
    approximate: bool
    explanation: str


class RecommendResult(BaseModel):
    job_id: int
    items: list[Recommendation]


class SlotQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    service_type: ServiceType
    duration_minutes: int = Field(ge=10, le=12 * 60)
    date_from: Day
    date_to: Day
    window_hours: int = Field(default=2, ge=1, le=8)

    @model_validator(mode="after")
    def _range(self) -> Self:
        check_range(self.date_from, self.date_to)
        return self


class Slot(BaseModel):
    start: datetime
    end: datetime
    technicians: int


class ScheduledJob(BaseModel):
    job_id: int
    state: str
    start: datetime
    end: datetime
    site_address: str
    pinned: bool
    override_reason: str | None
    drive_minutes_before: float
    gap_minutes_before: float
    projected_arrival: datetime
    projected_start: datetime
    projected_end: datetime
    late_minutes: float
    misses_window: bool
    approximate: bool


class TechnicianDay(BaseModel):
    technician_id: int
    name: str
    hours_start: datetime | None
    hours_end: datetime | None
    drive_minutes: float
    jobs: list[ScheduledJob]
    conflicts: list[ConflictRead]


class DaySchedule(BaseModel):
    date: date
    generated_at: datetime
    technicians: list[TechnicianDay]


class OptimizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    technician_ids: list[Id] = Field(min_length=1, max_length=50)
    date: Day
    time_limit_seconds: float = Field(default=1.5, gt=0, le=5)


class Move(BaseModel):
    job_id: Id
    technician_id: Id
    start: Instant
    end: datetime
    previous_start: datetime


class TechnicianProposal(BaseModel):
    technician_id: int
    drive_minutes_before: float
    drive_minutes_after: float
    moves: list[Move]


class OptimizeResult(BaseModel):
    date: date
    technicians: list[TechnicianProposal]


class ApplyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    moves: list[Move] = Field(min_length=1, max_length=500)
