"""Writing events with the change, and carrying them to listeners after the commit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter
from sqlalchemy import and_, delete, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from routeboard.events.board import BoardFilter, belongs
from routeboard.events.schemas import AnyEvent, EventHistoryItem, EventRead, JobCard
from routeboard.metrics.service import BROADCASTER_UP, CAUGHT_UP
from routeboard.models import Counter, Event, Job

if TYPE_CHECKING:
    from routeboard.deps import Actor

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
    [row] = await record_events(session, [event], at=at)
    return row


async def record_events(
    session: AsyncSession, events: Sequence[AnyEvent], *, at: datetime
) -> list[Event]:
    """Several events in one flush (one statement where the database allows it)."""
    await _serialise_event_writers(session)
    rows = [
        Event(
            created_at=at,
            type=event.type,
            version=event.v,
            job_id=event.job_id,
            technician_id=event.technician_id,
            payload=event.model_dump(mode="json"),
        )
        for event in events
    ]
    session.add_all(rows)
    await session.flush()
    # Kept with its typed event: broadcasting after commit needs no second parse of the payload.
    written = sorted(zip(rows, events, strict=True), key=lambda pair: pair[0].id)
    session.info.setdefault(_PENDING, []).extend(written)
    return rows


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
    written: list[tuple[Event, AnyEvent]] = session.info.pop(_PENDING, [])
    session.info.pop(_LOCKED, None)
    return [EventRead(id=row.id, event=event) for row, event in written]


def discard_pending(session: AsyncSession) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_LOCKED, None)


class Broadcaster(Protocol):
    @property
    def up(self) -> bool: ...

    async def publish(self, events: Sequence[EventRead]) -> None: ...

    async def run(self) -> None: ...


class Deliver(Protocol):
    def deliver(self, events: Sequence[EventRead]) -> None: ...


class InOrder:
    """Hands events to this process's streams once each, in id order, with no gap.

    Event ids commit in id order (``_serialise_event_writers``), so what the table holds is
    always a prefix: whenever events arrive with a gap before them (a lost bus message, two
    commits publishing in the opposite order), the gap is read from the table first. A hole the
    table does not fill is an id a rolled-back transaction took, and is passed over. If the table
    cannot be read, what arrived is handed on in order anyway: late is better than never, and a
    commit that already happened must not fail its request here.
    """

    def __init__(self, hub: Deliver, maker: async_sessionmaker[AsyncSession]) -> None:
        self.hub = hub
        self.maker = maker
        # The newest id handed on. Unknown until the first events arrive (or the first catch-up
        # reads the table's newest): nothing before them was handed on by this relay.
        self.upto: int | None = None
        self.lock = asyncio.Lock()
        self.from_table = 0  # events that came from the table rather than the bus

    async def deliver(self, events: Sequence[EventRead]) -> None:
        async with self.lock:
            fresh = sorted(events, key=lambda e: e.id)
            if self.upto is None:
                if not fresh:
                    return
                self.upto = fresh[0].id - 1
            fresh = [e for e in fresh if e.id > self.upto]
            if not fresh:
                return
            if [e.id for e in fresh] != list(range(self.upto + 1, self.upto + 1 + len(fresh))):
                try:
                    read = await self._read(self.upto, through=fresh[-1].id)
                except Exception:
                    log.exception("could not read the gap before event %d", fresh[0].id)
                else:
                    self.from_table += len(read) - len(fresh)
                    fresh = read or fresh
            self.hub.deliver(fresh)
            self.upto = max(self.upto, fresh[-1].id)

    async def catch_up(self, page: int = 1000) -> int:
        """Everything the table holds past what was handed on; how many events that was."""
        caught = 0
        while True:
            # A page at a time, the lock let go between pages: publishes are not held up long.
            async with self.lock:
                if self.upto is None:
                    async with self.maker() as session:
                        self.upto = await last_event_id(session)
                    return 0
                missed = await self._read(self.upto, limit=page)
                if not missed:
                    return caught
                self.hub.deliver(missed)
                self.upto = missed[-1].id
                caught += len(missed)
                self.from_table += len(missed)

    async def _read(
        self, after: int, *, through: int | None = None, limit: int = 10_000
    ) -> list[EventRead]:
        query = select(Event).where(Event.id > after).order_by(Event.id).limit(limit)
        if through is not None:
            query = query.where(Event.id <= through)
        async with self.maker() as session:
            rows = (await session.execute(query)).scalars()
            return [EventRead(id=r.id, event=_adapter.validate_python(r.payload)) for r in rows]


class InProcessBroadcaster:
    """Hands committed events straight to this process's streams: the embedded default."""

    up = True

    def __init__(self, hub: Deliver, maker: async_sessionmaker[AsyncSession]) -> None:
        self.relay = InOrder(hub, maker)

    async def publish(self, events: Sequence[EventRead]) -> None:
        await self.relay.deliver(events)

    async def run(self) -> None:
        """Nothing to listen to: every writer is in this process."""


CHANNEL = "routeboard:events"
# While the bus is up, the table is still read this often: a message Redis took but never
# delivered (or a publish that failed) reaches every instance within this long.
SAFETY_NET_SECONDS = 5.0
# A subscription that hears nothing, not even the answer to a ping, for this long is dead.
SILENCE_SECONDS = 15.0


class RedisBroadcaster:
    """Publishes committed events on Redis; every instance (this one included) delivers what it
    receives, so a change made through any instance reaches streams on all of them.

    Redis only carries what the database already holds. While the subscription is down, this
    instance reads new events from the table every ``poll_seconds`` instead (its own and the
    other instances' alike), and every ``SAFETY_NET_SECONDS`` while it is up; when it is back,
    it catches up from the table before taking the bus again, and ``InOrder`` fills any gap in
    what the bus brings. No stream needs a reload.
    """

    def __init__(
        self,
        url: str,
        hub: Deliver,
        maker: async_sessionmaker[AsyncSession],
        *,
        poll_seconds: float = 0.5,
    ) -> None:
        from redis.asyncio import Redis

        # Bounded waits: a Redis that stops answering must not hold a request's publish long.
        self.redis = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.relay = InOrder(hub, maker)
        self.poll_seconds = poll_seconds
        self.ready = asyncio.Event()
        self.poked = asyncio.Event()

    @property
    def up(self) -> bool:
        """Whether events travel by Redis now (else by reading the table: degraded)."""
        return self.ready.is_set()

    async def publish(self, events: Sequence[EventRead]) -> None:
        """Always offered to Redis, subscribed or not (a ``routeboard worker`` never subscribes,
        and the other instances may well be); on failure, this instance's poller reads them."""
        if not self.ready.is_set():
            self.poked.set()  # our own streams hear nothing from Redis now: read the table
        payload = json.dumps([e.model_dump(mode="json") for e in events])
        try:
            await self.redis.publish(CHANNEL, payload)
        except Exception as exc:  # the commit stands; the table has the events
            log.warning("could not publish %d events to Redis: %s", len(events), exc)
            self.poked.set()

    async def run(self) -> None:
        """Listen until cancelled; while the subscription is down, read the table instead."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._poll())
            await self._listen()

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    # Subscribed first, then caught up: whatever committed while the bus was
                    # away is read from the table, and anything published from now on arrives
                    # on the bus (or is already in the catch-up, and dropped as seen).
                    await self.relay.catch_up()
                    self.ready.set()
                    BROADCASTER_UP.set(1)
                    delay = 0.5
                    await self._take(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.ready.is_set():
                    log.warning("Redis subscription lost (%s); events are read from the table", exc)
                self.ready.clear()
                BROADCASTER_UP.set(0)
                self.poked.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _take(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        heard = loop.time()
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
            if message is None:
                if loop.time() - heard > SILENCE_SECONDS:
                    raise ConnectionError("Redis answered nothing, not even a ping")
                await pubsub.ping()
                continue
            heard = loop.time()
            if message.get("type") != "message":  # the answer to a ping
                continue
            try:
                items = [EventRead.model_validate(i) for i in json.loads(message["data"])]
            except ValueError:
                log.warning("ignored a malformed message on %s", CHANNEL)
                continue
            await self.relay.deliver(items)

    async def _poll(self) -> None:
        failing = False
        while True:
            wait = self.poll_seconds if not self.ready.is_set() else SAFETY_NET_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.poked.wait(), wait)
            self.poked.clear()
            try:
                caught = await self.relay.catch_up()
            except Exception as exc:  # the database may be away too; the next pass tries again
                if not failing:
                    log.warning("could not read new events from the table: %s", exc)
                failing = True
                continue
            failing = False
            if caught:
                CAUGHT_UP.inc(caught)

    async def close(self) -> None:
        await self.redis.aclose()


PRUNED = "events-pruned-through"


async def last_event_id(session: AsyncSession) -> int:
    return int((await session.execute(select(func.max(Event.id)))).scalar_one() or 0)


async def replay(
    session: AsyncSession, after: int, *, limit: int = 10_000
) -> list[EventRead] | None:
    """Every event after ``after``, in order; None when that is not possible (some were pruned,
    or more than ``limit`` are missing): the caller sends a fresh snapshot instead, never a
    replay with a hole in it."""
    pruned = await session.get(Counter, PRUNED)
    if pruned is not None and after < pruned.value:
        return None
    query = select(Event).where(Event.id > after).order_by(Event.id).limit(limit + 1)
    rows = list((await session.execute(query)).scalars())
    if len(rows) > limit:
        return None
    return [EventRead(id=r.id, event=_adapter.validate_python(r.payload)) for r in rows]


async def prune_events(session: AsyncSession, *, before: datetime) -> int:
    """Delete events older than ``before``; resuming from before them gets a fresh snapshot."""
    newest = (
        await session.execute(select(func.max(Event.id)).where(Event.created_at < before))
    ).scalar_one()
    if newest is None:
        return 0
    result = await session.execute(delete(Event).where(Event.id <= newest))
    mark = await session.get(Counter, PRUNED, with_for_update=True)
    if mark is None:
        session.add(Counter(name=PRUNED, value=newest))
    else:
        mark.value = max(mark.value, newest)
    await session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


async def board_cards(
    session: AsyncSession, actor: Actor, where: BoardFilter, tz: ZoneInfo
) -> list[JobCard]:
    """The jobs a board with ``where`` shows to ``actor``, as cards."""
    # Imported here: access imports deps, which imports this module.
    from routeboard.access import visible_jobs

    query = visible_jobs(actor, select(Job))
    if where.job_id is not None:
        query = query.where(Job.id == where.job_id)
    else:
        tray = and_(Job.technician_id.is_(None), Job.state == "quoted")
        if where.day is not None:
            start, end = (
                datetime.combine(where.day + timedelta(days=d), time(0), tzinfo=tz) for d in (0, 1)
            )
            placed = and_(Job.scheduled_start >= start, Job.scheduled_start < end)
            query = query.where(or_(placed, tray))
        if where.technician_id is not None:
            query = query.where(Job.technician_id == where.technician_id)
        if where.branch_id is not None:
            query = query.where(or_(Job.branch_id.is_(None), Job.branch_id == where.branch_id))
    jobs = (await session.execute(query.order_by(Job.id))).scalars()
    return [c for c in (JobCard.of(j) for j in jobs) if belongs(c, where, tz)]


async def list_events(
    session: AsyncSession,
    *,
    technician_id: int | None = None,
    job_id: int | None = None,
    type: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[EventHistoryItem]:
    """Stored events in id order after ``after_id``: the history behind the live stream."""
    query = select(Event).where(Event.id > after_id).order_by(Event.id).limit(limit)
    if technician_id is not None:
        query = query.where(Event.technician_id == technician_id)
    if job_id is not None:
        query = query.where(Event.job_id == job_id)
    if type is not None:
        query = query.where(Event.type == type)
    rows = (await session.execute(query)).scalars()
    return [
        EventHistoryItem(id=r.id, at=r.created_at, event=_adapter.validate_python(r.payload))
        for r in rows
    ]
