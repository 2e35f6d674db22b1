"""Fan-out of committed events to the streams connected to this instance.

Each event is checked against each subscriber's filters, but encoded at most once per audience
(office, one technician, one customer): the bytes are shared by every connection of that
audience. Subscribers hold bounded queues; one that falls too far behind is dropped and told to
reconnect, which replays what it missed from the events table — a slow client never slows
commits or other clients.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from routeboard.access import audience_key, event_visible
from routeboard.deps import Actor
from routeboard.events.board import BoardFilter
from routeboard.events.schemas import AnyEvent, EventRead

log = logging.getLogger(__name__)
QUEUE_LIMIT = 1000
LAGGED = -1  # the id of the sentinel put in a queue that overflowed


def shaped(actor: Actor, event: AnyEvent) -> AnyEvent:
    """The event as ``actor`` may read it: customers never see office-only details."""
    if actor.role != "customer" or event.job is None:
        return event
    card = event.job.model_copy(update={"override_reason": None, "pinned": False})
    return event.model_copy(update={"job": card, "previous_technician_id": None})


def sse_frame(event_id: int, name: str, data: str) -> bytes:
    return f"id: {event_id}\nevent: {name}\ndata: {data}\n\n".encode()


def encode(actor: Actor, item: EventRead) -> bytes:
    body = shaped(actor, item.event).model_dump(mode="json")
    return sse_frame(item.id, item.event.type, json.dumps({"id": item.id, **body}))


@dataclass(eq=False)
class Subscriber:
    actor: Actor
    where: BoardFilter
    queue: asyncio.Queue[tuple[int, bytes, EventRead | None]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT)
    )
    lagged: bool = False

    def matches(self, event: AnyEvent) -> bool:
        if self.where.job_id is not None:
            return event.job_id == self.where.job_id
        wanted = self.where.technician_id
        return wanted is None or wanted in (event.technician_id, event.previous_technician_id)


class Hub:
    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()
        self.encodings = 0  # how many times an event was serialised (once per audience)

    def subscribe(self, actor: Actor, where: BoardFilter) -> Subscriber:
        sub = Subscriber(actor, where)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def deliver(self, events: Sequence[EventRead]) -> None:
        for item in events:
            frames: dict[str, bytes | None] = {}
            for sub in list(self.subscribers):
                if sub.lagged or not sub.matches(item.event):
                    continue
                key = audience_key(sub.actor)
                if key not in frames:
                    visible = event_visible(sub.actor, item.event)
                    frames[key] = encode(sub.actor, item) if visible else None
                    self.encodings += visible
                frame = frames[key]
                if frame is None:
                    continue
                try:
                    sub.queue.put_nowait((item.id, frame, item))
                except asyncio.QueueFull:
                    sub.lagged = True
                    log.warning("stream subscriber fell %s events behind; dropping it", QUEUE_LIMIT)
                    # Make room for the one message that matters: reconnect (and be replayed).
                    while not sub.queue.empty():
                        sub.queue.get_nowait()
                    sub.queue.put_nowait((LAGGED, b"", None))
