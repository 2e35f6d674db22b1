"""Typed events. Every event on the wire is one of these models, never a bare dict."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field


class _Event(BaseModel):
    v: Literal[1] = 1
    job_id: int | None = None
    technician_id: int | None = None


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


class JobScheduled(_Event):
    type: Literal["job.scheduled"] = "job.scheduled"
    start: str
    end: str
    previous_technician_id: int | None = None


class QuoteChanged(_Event):
    type: Literal["quote.changed"] = "quote.changed"
    status: str
    total_cents: int


class EvidenceAdded(_Event):
    type: Literal["job.evidence"] = "job.evidence"
    kind: str


AnyEvent = Annotated[
    JobCreated | JobUpdated | JobTransitioned | JobScheduled | QuoteChanged | EvidenceAdded,
    Field(discriminator="type"),
]


class EventRead(BaseModel):
    """An event as delivered: its durable id plus the typed body."""

    id: int
    event: AnyEvent
