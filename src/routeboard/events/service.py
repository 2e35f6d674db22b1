"""Writing events with the change, and carrying them to listeners after the commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from pydantic import TypeAdapter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.events.schemas import AnyEvent, EventRead, JobCard
from routeboard.models import Event, Job

log = logging.getLogger(__name__)
_PENDING = "routeboard.pending_events"
_adapter: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


async def record_event(
    session: AsyncSession, event: AnyEvent, *, at: datetime, job: Job | None = None
) -> Event:
    """Write ``event`` in the current transaction; it is broadcast only if that commits.

    With ``job``, the event carries the job's board card and its customer, so clients can apply
    it directly and the stream can decide who may see it.
    """
    if job is not None:
        event = event.model_copy(
            update={"job_id": job.id, "customer_id": job.customer_id, "job": JobCard.of(job)}
        )
    await _serialise_event_writers(session)
    row = Event(
        created_at=at,
        type=event.type,
        version=event.v,
        job_id=event.job_id,
        technician_id=event.technician_id,
        payload=event.model_dump(mode="json"),
    )
    session.add(row)
    await session.flush()
    session.info.setdefault(_PENDING, []).append(row)
    return row


_LOCKED = "routeboard.event_lock"
# Any fixed number: the key of the advisory lock that orders event-writing transactions.
EVENT_LOCK_KEY = 7_301_001


async def _serialise_event_writers(session: AsyncSession) -> None:
    """On PostgreSQL, make event ids commit in id order.

    Sequence values are handed out at insert, not at commit: without this, a transaction holding
    id 41 could commit after one holding id 42, and a client resuming from 42 would never see 41.
    The lock is held to the end of the transaction, so writers of events commit one at a time.
    SQLite already allows only one writer.
    """
    if session.info.get(_LOCKED) or session.bind is None:
        return
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": EVENT_LOCK_KEY})
    session.info[_LOCKED] = True


def take_committed(session: AsyncSession) -> list[EventRead]:
    """The events written by the transaction that just committed, ready to broadcast."""
    rows: list[Event] = session.info.pop(_PENDING, [])
    session.info.pop(_LOCKED, None)
    return [EventRead(id=r.id, event=_adapter.validate_python(r.payload)) for r in rows]


def discard_pending(session: AsyncSession) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_LOCKED, None)


class Broadcaster(Protocol):
    async def publish(self, events: Sequence[EventRead]) -> None: ...


class InProcessBroadcaster:
    """Fan-out to subscribers in this process: the embedded default."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._queues: set[asyncio.Queue[EventRead]] = set()
        self._queue_size = queue_size

    def subscribe(self) -> asyncio.Queue[EventRead]:
        queue: asyncio.Queue[EventRead] = asyncio.Queue(self._queue_size)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[EventRead]) -> None:
        self._queues.discard(queue)

    async def publish(self, events: Sequence[EventRead]) -> None:
        for queue in list(self._queues):
            for event in events:
                try:
                    queue.put_nowait(event)
                except asyncio.QueueFull:
                    # A stalled listener must not block commits; it resumes from the table.
                    log.warning("dropping live event %s for a full subscriber", event.id)
