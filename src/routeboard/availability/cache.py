"""Each technician's latest availability, kept where reading it is cheap.

In memory by default; in Redis (one hash per technician, with a TTL) when Redis is configured,
so every instance answers from the same copy. The database stays the truth: after each commit
that touched a technician's state the copy is rewritten from the database, tagged with the
row's version, and a copy never replaces a newer one; a technician missing from the cache is
read from the database. See ADR 0012.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import case, event, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, UOWTransaction

from routeboard.availability.schemas import Position, TechnicianStatusRead
from routeboard.clock import wall_microseconds
from routeboard.models import Job, Technician, TechnicianStatus

log = logging.getLogger(__name__)
TOUCHED = "routeboard.touched_technicians"
ACTIVE_JOB_STATES = ("en_route", "in_progress")

Versioned = tuple[int, TechnicianStatusRead]


@event.listens_for(Session, "before_flush")
def _bump_versions(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    """Every written status row gets a higher version, and its technician is remembered so the
    cached copy is rewritten after the commit.

    The version is at least the wall clock in microseconds: a copy left in Redis by an earlier
    database (restored, or rebuilt by tests) is older than anything written since.
    """
    touched: set[int] = session.info.setdefault(TOUCHED, set())
    for row in (*session.new, *session.dirty):
        if not isinstance(row, TechnicianStatus):
            continue
        touched.add(row.technician_id)
        now = wall_microseconds()
        if row in session.new:
            row.version = now
        else:
            # In SQL, not Python: the row is locked, and its version is read where it is written.
            bumped = TechnicianStatus.version + 1
            row.version = case((bumped > now, bumped), else_=now)


async def touch(session: AsyncSession, technician_id: int) -> None:
    """A change to a technician's availability that is not in their status row (their active
    job ended): raise the row's version so the rewritten copy replaces the cached one."""
    bumped = TechnicianStatus.version + 1
    now = wall_microseconds()
    await session.execute(
        update(TechnicianStatus)
        .where(TechnicianStatus.technician_id == technician_id)
        .values(version=case((bumped > now, bumped), else_=now))
    )
    session.info.setdefault(TOUCHED, set()).add(technician_id)


async def read_states(session: AsyncSession, technician_ids: Sequence[int]) -> list[Versioned]:
    """Technicians' latest states from the database, by name, with the version each was read at
    (0 for a technician never heard from)."""
    active = (
        select(Job.technician_id, Job.id, Job.eta)
        .where(Job.state.in_(ACTIVE_JOB_STATES), Job.technician_id.in_(technician_ids))
        .subquery()
    )
    rows = await session.execute(
        select(Technician, TechnicianStatus, active.c.id, active.c.eta)
        .outerjoin(TechnicianStatus, TechnicianStatus.technician_id == Technician.id)
        .outerjoin(active, active.c.technician_id == Technician.id)
        .where(Technician.id.in_(technician_ids))
        .order_by(Technician.name, Technician.id)
    )
    states: dict[int, Versioned] = {}
    for tech, status, job_id, eta in rows:
        if tech.id in states:  # two active jobs (not allowed, but never a duplicate row here)
            continue
        position = None
        if status and status.lat is not None and status.lon is not None and status.position_at:
            position = Position(
                lat=status.lat, lon=status.lon, accuracy_m=status.accuracy_m, at=status.position_at
            )
        read = TechnicianStatusRead(
            technician_id=tech.id,
            name=tech.name,
            branch_id=tech.branch_id,
            status=status.status if status else "unknown",
            since=status.since if status else None,
            last_seen_at=status.last_seen_at if status else None,
            position=position,
            battery=status.battery if status else None,
            current_job_id=job_id,
            eta=eta,
        )
        states[tech.id] = (status.version if status else 0, read)
    return list(states.values())


class StateCache(Protocol):
    async def get_many(self, technician_ids: Sequence[int]) -> dict[int, TechnicianStatusRead]:
        """The cached copies there are (a missing or expired one is simply absent)."""
        ...

    async def put_many(self, states: Sequence[Versioned]) -> None:
        """Store each copy unless a newer version is already stored."""
        ...

    async def close(self) -> None: ...


class MemoryStateCache:
    """This process's copy: the embedded default."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self.clock = clock
        self.entries: dict[int, tuple[int, float, TechnicianStatusRead]] = {}

    async def get_many(self, technician_ids: Sequence[int]) -> dict[int, TechnicianStatusRead]:
        now = self.clock()
        found = {}
        for tid in technician_ids:
            entry = self.entries.get(tid)
            if entry is not None and entry[1] > now:
                found[tid] = entry[2]
        return found

    async def put_many(self, states: Sequence[Versioned]) -> None:
        expires = self.clock() + self.ttl
        for version, read in states:
            held = self.entries.get(read.technician_id)
            if held is None or held[0] < version or held[1] <= self.clock():
                self.entries[read.technician_id] = (version, expires, read)

    async def close(self) -> None:
        self.entries.clear()


# Compare and set in one step on the server: two instances refreshing the same technician
# cannot interleave a read and a write.
_PUT = """
local held = redis.call('HGET', KEYS[1], 'version')
if held and tonumber(held) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'state', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


def cache_prefix(database_url: str) -> str:
    """Keys named after the database: two deployments sharing one Redis never read each
    other's technicians."""
    tag = hashlib.sha256(database_url.encode()).hexdigest()[:12]
    return f"routeboard:{tag}:availability:"


class RedisStateCache:
    """One hash per technician (``version``, ``state``) with a TTL, shared by every instance."""

    def __init__(self, url: str, ttl_seconds: float, *, prefix: str) -> None:
        from redis.asyncio import Redis

        self.redis = Redis.from_url(url)
        self.ttl = max(1, int(ttl_seconds))
        self.prefix = prefix
        self.put = self.redis.register_script(_PUT)

    def key(self, technician_id: int) -> str:
        return f"{self.prefix}{technician_id}"

    async def get_many(self, technician_ids: Sequence[int]) -> dict[int, TechnicianStatusRead]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for tid in technician_ids:
                pipe.hget(self.key(tid), "state")
            values = await pipe.execute()
        return {
            tid: TechnicianStatusRead.model_validate_json(value)
            for tid, value in zip(technician_ids, values, strict=True)
            if value is not None
        }

    async def put_many(self, states: Sequence[Versioned]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for version, read in states:
                args: list[str | int] = [version, read.model_dump_json(), self.ttl]
                await self.put(keys=[self.key(read.technician_id)], args=args, client=pipe)
            await pipe.execute()

    async def close(self) -> None:
        await self.redis.aclose()


async def refresh(session: AsyncSession, cache: StateCache) -> None:
    """After a commit: rewrite the copies of the technicians it touched, from the database.

    A cache that cannot be written is logged, not raised: the commit stands, and a stale copy
    is replaced by the next write or expires.
    """
    touched: set[int] | None = session.info.pop(TOUCHED, None)
    if not touched:
        return
    try:
        await cache.put_many(await read_states(session, sorted(touched)))
    except Exception:
        log.exception("could not refresh the availability cache for %s", sorted(touched))


def forget_touched(session: AsyncSession) -> None:
    """A rolled-back transaction changed nothing worth rewriting."""
    session.info.pop(TOUCHED, None)


async def lookup(
    session: AsyncSession, cache: StateCache | None, technician_ids: Sequence[int]
) -> list[TechnicianStatusRead]:
    """Technicians' latest states: cached copies where there are, the database for the rest
    (which are then cached). Ordered by name."""
    found: dict[int, TechnicianStatusRead] = {}
    if cache is not None and technician_ids:
        try:
            found = await cache.get_many(technician_ids)
        except Exception:
            log.exception("availability cache unreadable; reading the database")
    missing = [t for t in technician_ids if t not in found]
    if missing:
        states = await read_states(session, missing)
        found |= {read.technician_id: read for _, read in states}
        if cache is not None:
            try:
                await cache.put_many(states)
            except Exception:
                log.exception("could not fill the availability cache")
    return sorted(found.values(), key=lambda r: (r.name, r.technician_id))
