"""Technician status bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

# What a technician can say about themselves; job states add en_route, on_site and working.
ManualStatus = Literal["available", "break", "off_duty"]


class StatusUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ManualStatus


class Position(BaseModel):
    lat: float
    lon: float
    accuracy_m: float | None
    at: datetime


class TechnicianStatusRead(BaseModel):
    technician_id: int
    name: str
    branch_id: int | None = None
    status: str
    since: datetime | None
    last_seen_at: datetime | None
    position: Position | None = None
    battery: float | None = None
    # No report within the availability TTL (or none ever): the position may be out of date.
    stale: bool = False
    current_job_id: int | None = None  # the job they are driving to or working on
    eta: datetime | None = None  # their estimated arrival at that job, while driving
