"""Typed events. Every event on the wire is one of these models, never a bare dict."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from routeboard.models import Job


class JobCard(BaseModel):
    """A job as the board draws it: enough to place, size and colour its block."""

    id: int
    state: str
    technician_id: int | None
    branch_id: int | None = None
    customer_id: int
    service_type: str
    site_address: str
    lat: float
    lon: float
    duration_minutes: int
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    pinned: bool
    override_reason: str | None

    @classmethod
    def of(cls, job: Job) -> JobCard:
        return cls(
            id=job.id,
            state=job.state,
            technician_id=job.technician_id,
            branch_id=job.branch_id,
            customer_id=job.customer_id,
            service_type=job.service_type,
            site_address=job.site_address,
            lat=job.site_lat,
            lon=job.site_lon,
            duration_minutes=job.duration_minutes,
            scheduled_start=job.scheduled_start,
            scheduled_end=job.scheduled_end,
            window_start=job.window_start,
            window_end=job.window_end,
            pinned=job.pinned,
            override_reason=job.override_reason,
        )


class _Event(BaseModel):
    v: Literal[1] = 1
    job_id: int | None = None
    technician_id: int | None = None
    # The technician the job was with before this change (they see its leaving, too).
    previous_technician_id: int | None = None
    customer_id: int | None = None
    # The job after the change, so a client applies the event without asking again.
    job: JobCard | None = None


class JobCreated(_Event):
    type: Literal["job.created"] = "job.created"
    state: str


class JobUpdated(_Event):
    type: Literal["job.updated"] = "job.updated"
    fields: list[str]


class JobTransitioned(_Event):
    type: Literal["job.transitioned"] = "job.transitioned"
    action: str
    from_state: str
    to_state: str
    # How late it reached us, when sent from an offline queue: the board shows it as delayed.
    delayed_seconds: int | None = None


class JobScheduled(_Event):
    type: Literal["job.scheduled"] = "job.scheduled"
    start: str
    end: str


class QuoteChanged(_Event):
    type: Literal["quote.changed"] = "quote.changed"
    status: str
    total_cents: int


class EvidenceAdded(_Event):
    type: Literal["job.evidence"] = "job.evidence"
    kind: str


class PaymentChanged(_Event):
    type: Literal["job.payment"] = "job.payment"
    payment_id: int
    method: str
    status: str
    amount_cents: int


class TechnicianStatusChanged(_Event):
    type: Literal["technician.status"] = "technician.status"
    status: str
    since: datetime
    last_seen_at: datetime
    stale: bool = False  # no report within the availability TTL


class TechnicianLocated(_Event):
    """Where a technician's device says they are (the newest report of a batch only)."""

    type: Literal["technician.location"] = "technician.location"
    lat: float
    lon: float
    accuracy_m: float | None
    speed_mps: float | None
    heading: float | None
    battery: float | None
    recorded_at: datetime
    source: str


class TechnicianGeofence(_Event):
    """A technician arrived at or left a shop or a job site (after dwell and hysteresis)."""

    type: Literal["technician.geofence"] = "technician.geofence"
    transition: Literal["arrive", "depart"]
    place: Literal["branch", "job"]
    place_id: int
    at: datetime


class JobEta(_Event):
    """A fresh arrival estimate for a job being driven to (the customer sees it too)."""

    type: Literal["job.eta"] = "job.eta"
    eta: datetime
    minutes: float
    approximate: bool
    late_minutes: float  # past the promised time (window end, else start); 0 when on time


class AlertRaised(_Event):
    type: Literal["alert.raised"] = "alert.raised"
    kind: Literal["projected_late", "message_failed"]
    message: str


class AlertCleared(_Event):
    type: Literal["alert.cleared"] = "alert.cleared"
    kind: Literal["projected_late", "message_failed"]


AnyEvent = Annotated[
    JobCreated
    | JobUpdated
    | JobTransitioned
    | JobScheduled
    | QuoteChanged
    | EvidenceAdded
    | PaymentChanged
    | TechnicianStatusChanged
    | TechnicianLocated
    | TechnicianGeofence
    | JobEta
    | AlertRaised
    | AlertCleared,
    Field(discriminator="type"),
]


class EventRead(BaseModel):
    """An event as delivered: its durable id plus the typed body."""

    id: int
    event: AnyEvent


class EventHistoryItem(BaseModel):
    id: int
    at: datetime
    event: AnyEvent


class EventHistory(BaseModel):
    items: list[EventHistoryItem]
    # Pass as ``after_id`` for the next page; None when this page was the last.
    next_after_id: int | None
