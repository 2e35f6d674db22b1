"""Writing events with the change, and carrying them to listeners after the commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.events.schemas import AnyEvent, EventRead
from routeboard.models import Event

log = logging.getLogger(__name__)
_PENDING = "routeboard.pending_events"
_adapter: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


async def record_event(session: AsyncSession, event: AnyEvent, *, at: datetime) -> Event:
    """Write ``event`` in the current transaction; it is broadcast only if that commits."""
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


def take_committed(session: AsyncSession) -> list[EventRead]:
    """The events written by the transaction that just committed, ready to broadcast."""
    rows: list[Event] = session.info.pop(_PENDING, [])
    return [EventRead(id=r.id, event=_adapter.validate_python(r.payload)) for r in rows]


def discard_pending(session: AsyncSession) -> None:
    session.info.pop(_PENDING, None)


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
