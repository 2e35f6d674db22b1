"""Fan-out of committed events to the streams connected to this instance.

Each event is checked against each subscriber's filters, but encoded at most once per audience
(office, one technician, one customer): the bytes are shared by every connection of that
audience.

Server-Sent Events streams are written by the hub itself. Events are appended to each stream's
pending list and flushed together after a short window (``stream_coalesce_ms``), one write per
stream per window: no task wakes per connection per event, and the client reads a burst in one
go. A write goes straight to the transport; only when a client is not reading (its transport has
paused writing) does the rest of that write continue in a task of its own, and the stream stops
being written until it finishes. A stream that falls ``QUEUE_LIMIT`` events behind is ended with
a ``reconnect`` frame, and the client is replayed what it missed from the events table: a slow
client never slows commits or other clients.

WebSocket subscribers hold bounded queues that their own task drains (they are few, and talk
back).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Message, Send

from routeboard.access import audience_key, event_visible
from routeboard.deps import Actor
from routeboard.events.board import BoardFilter
from routeboard.events.schemas import AnyEvent, EventRead

log = logging.getLogger(__name__)
QUEUE_LIMIT = 1000
LAGGED = -1  # the id of the sentinel put in a queue that overflowed
RECONNECT = b"event: reconnect\ndata: {}\n\n"
REVOKED = b"event: revoked\ndata: {}\n\n"
PING = b": ping\n\n"


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


def matches(where: BoardFilter, event: AnyEvent) -> bool:
    if where.job_id is not None:
        return event.job_id == where.job_id
    wanted = where.technician_id
    return wanted is None or wanted in (event.technician_id, event.previous_technician_id)


@dataclass(eq=False)
class Subscriber:
    """A WebSocket's place in the hub: a bounded queue that its own task drains."""

    actor: Actor
    where: BoardFilter
    queue: asyncio.Queue[tuple[int, bytes, EventRead | None]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT)
    )
    lagged: bool = False
    audience: str = ""

    def __post_init__(self) -> None:
        self.audience = audience_key(self.actor)

    def matches(self, event: AnyEvent) -> bool:
        return not self.lagged and matches(self.where, event)

    def offer(self, event_id: int, frame: bytes, item: EventRead) -> None:
        try:
            self.queue.put_nowait((event_id, frame, item))
        except asyncio.QueueFull:
            self.lagged = True
            log.warning("stream subscriber fell %s events behind; dropping it", QUEUE_LIMIT)
            # Make room for the one message that matters: reconnect (and be replayed).
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait((LAGGED, b"", None))


class Stream:
    """A Server-Sent Events response the hub writes to.

    Until its opening (snapshot or replay) is written the stream is not ``ready``: live events
    collect in ``pending`` and the opening's writer sends those its opening did not cover.
    """

    __slots__ = (
        "actor",
        "audience",
        "busy",
        "covered",
        "done",
        "ending",
        "hub",
        "pending",
        "ready",
        "recent",
        "send",
        "still_allowed",
        "where",
    )  # fmt: skip

    def __init__(
        self,
        hub: Hub,
        actor: Actor,
        where: BoardFilter,
        send: Send,
        still_allowed: Callable[[], Awaitable[bool]] | None,
    ) -> None:
        self.hub = hub
        self.actor = actor
        self.where = where
        self.audience = audience_key(actor)
        self.send = send
        self.still_allowed = still_allowed
        self.pending: list[tuple[int, bytes]] = []
        self.covered = 0
        # Ids just written: the same event can be handed over twice (a resumed opening, Redis
        # redelivery); an event that overtook another is still written (cards are idempotent).
        self.recent: deque[int] | None = None
        self.ready = False
        self.busy = False
        self.ending: bytes | None = None  # the last frame, once the stream must end
        self.done = False

    def matches(self, event: AnyEvent) -> bool:
        return self.ending is None and matches(self.where, event)

    def offer(self, event_id: int, frame: bytes, item: EventRead) -> None:
        self.pending.append((event_id, frame))
        if len(self.pending) > QUEUE_LIMIT:
            log.warning("stream fell %s events behind; asking it to reconnect", QUEUE_LIMIT)
            self.pending.clear()
            self.end(RECONNECT)
        self.hub.dirty.add(self)

    def take(self) -> bytes:
        """The pending frames that are news to the client, joined; empties ``pending``."""
        if not self.pending:
            return b""
        if self.recent is None:
            self.recent = deque(maxlen=256)
        out = []
        for event_id, frame in self.pending:
            if event_id > self.covered and event_id not in self.recent:
                self.recent.append(event_id)
                out.append(frame)
        self.pending.clear()
        return b"".join(out)

    def end(self, frame: bytes) -> None:
        """Finish the response with ``frame`` as soon as what is already pending is written."""
        if self.ending is None:
            self.ending = frame
            self.hub.dirty.add(self)

    def flush(self) -> None:
        if not self.ready or self.busy or self.done:
            return
        data = self.take()
        if self.ending is not None:
            self.done = True
            self.write(data + self.ending, more=False)
        elif data:
            self.write(data, more=True)

    def write(self, data: bytes, *, more: bool) -> None:
        message: Message = {"type": "http.response.body", "body": data, "more_body": more}
        waiting = start_eagerly(self.send(message))
        if waiting is None:
            return
        # The client is not keeping up: finish this write in the background, write nothing else
        # to it meanwhile (``pending`` grows until it catches up or lags out).
        self.busy = True
        waiting.add_done_callback(self._written)

    def _written(self, task: asyncio.Future[Any]) -> None:
        self.busy = False
        if task.cancelled() or task.exception() is not None:
            self.done = True
            return
        if self.pending or self.ending is not None:
            self.hub.dirty.add(self)
            self.hub.schedule_flush()


def start_eagerly(coro: Awaitable[Any]) -> asyncio.Future[Any] | None:
    """Run ``coro`` now, up to its first suspension; None if it finished without one.

    Writing to a connection almost never suspends (only when the client stops reading), so
    the hub writes a thousand streams in one pass without a task per write. When the write does
    suspend, a task takes the coroutine over from where it stopped (what asyncio 3.12 calls an
    eager task).
    """
    if not isinstance(coro, Coroutine):  # an ASGI send is always a coroutine function's result
        return asyncio.ensure_future(coro)
    try:
        yielded = coro.send(None)
    except StopIteration:
        return None
    except Exception:
        log.debug("stream write failed", exc_info=True)
        coro.close()
        failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        failed.set_result(None)
        return failed
    return asyncio.ensure_future(_resume(coro, yielded))


async def _resume(coro: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    return await _Continue(coro, yielded)


class _Continue:
    """Awaitable that carries on a coroutine already stepped once by ``start_eagerly``."""

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self.coro = coro
        self.yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        value = self.yielded
        while True:
            try:
                sent = yield value
            except BaseException as exc:  # cancellation is passed on to the write
                try:
                    value = self.coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = self.coro.send(sent)
                except StopIteration as stop:
                    return stop.value


class Hub:
    def __init__(
        self,
        *,
        coalesce_seconds: Callable[[], float] = lambda: 0.02,
        heartbeat_seconds: Callable[[], float] = lambda: 15.0,
    ) -> None:
        self.subscribers: set[Subscriber | Stream] = set()
        self.dirty: set[Stream] = set()
        self.encodings = 0  # how many times an event was serialised (once per audience)
        self.coalesce_seconds = coalesce_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self._flush: asyncio.TimerHandle | None = None

    def subscribe(self, actor: Actor, where: BoardFilter) -> Subscriber:
        sub = Subscriber(actor, where)
        self.subscribers.add(sub)
        return sub

    def attach(
        self,
        actor: Actor,
        where: BoardFilter,
        send: Send,
        still_allowed: Callable[[], Awaitable[bool]] | None = None,
    ) -> Stream:
        stream = Stream(self, actor, where, send, still_allowed)
        self.subscribers.add(stream)
        return stream

    def unsubscribe(self, sub: Subscriber | Stream) -> None:
        self.subscribers.discard(sub)
        if isinstance(sub, Stream):
            sub.done = True
            self.dirty.discard(sub)

    def deliver(self, events: Sequence[EventRead]) -> None:
        for item in events:
            frames: dict[str, bytes | None] = {}
            for sub in self.subscribers:
                if not sub.matches(item.event):
                    continue
                key = sub.audience
                if key in frames:
                    frame = frames[key]
                else:
                    visible = event_visible(sub.actor, item.event)
                    frame = frames[key] = encode(sub.actor, item) if visible else None
                    self.encodings += visible
                if frame is not None:
                    sub.offer(item.id, frame, item)
        self.schedule_flush()

    def schedule_flush(self) -> None:
        if self.dirty and self._flush is None:
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(self.coalesce_seconds(), self.flush)

    def flush(self) -> None:
        self._flush = None
        dirty, self.dirty = self.dirty, set()
        for stream in dirty:
            stream.flush()

    def streams(self) -> Iterable[Stream]:
        return [s for s in self.subscribers if isinstance(s, Stream)]

    async def run(self) -> None:
        """Heartbeats for every open stream, and the access re-checks of those that need one.

        One timer for the instance rather than one per connection: an idle stream costs no
        task and no timer of its own.
        """
        checks: set[asyncio.Task[None]] = set()
        while True:
            await asyncio.sleep(self.heartbeat_seconds())
            started = time.monotonic()
            for stream in self.streams():
                if not stream.ready or stream.done:
                    continue
                if stream.still_allowed is not None:
                    task = asyncio.ensure_future(_recheck(stream, stream.still_allowed))
                    checks.add(task)
                    task.add_done_callback(checks.discard)
                if not stream.busy and stream.ending is None and not stream.pending:
                    stream.write(PING, more=True)
            self.schedule_flush()
            log.debug("heartbeat pass took %.1f ms", (time.monotonic() - started) * 1e3)


async def _recheck(stream: Stream, still_allowed: Callable[[], Awaitable[bool]]) -> None:
    """A revoked credential ends its stream at the next heartbeat."""
    if not await still_allowed():
        stream.end(REVOKED)
        stream.hub.schedule_flush()
