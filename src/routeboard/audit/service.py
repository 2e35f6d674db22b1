"""Appending to and verifying the per-job, hash-chained audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.audit.chain import FIELDS, GENESIS, Break, entry_hash, first_break
from routeboard.deps import Actor
from routeboard.models import AuditEntry, Job


def _coord(value: float | None) -> float | None:
    # Six decimals (~0.1 m) is what a phone gives; rounding before hashing keeps it stable.
    return None if value is None else round(value, 6)


async def append_audit(
    session: AsyncSession,
    job: Job,
    *,
    actor: Actor,
    action: str,
    from_state: str | None = None,
    to_state: str | None = None,
    reason: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    data: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Chain a new entry onto ``job``'s trail. The caller holds the job's row lock."""
    content: dict[str, Any] = {
        "job_id": job.id,
        "seq": job.audit_seq + 1,
        "action": action,
        "actor_id": actor.user_id,
        "actor_name": actor.username,
        "actor_role": actor.role,
        "at": actor.at,
        "from_state": from_state,
        "to_state": to_state,
        "reason": reason,
        "client_addr": actor.client_addr,
        "user_agent": actor.user_agent,
        "lat": _coord(lat),
        "lon": _coord(lon),
        "data": dict(data or {}),
    }
    if actor.received_at is not None:
        # Sent late from a phone's offline queue: ``at`` is when it happened, this when it came.
        content["data"]["received_at"] = actor.received_at.isoformat()
    digest = entry_hash(job.audit_head, content)
    entry = AuditEntry(**content, prev_hash=job.audit_head, hash=digest)
    session.add(entry)
    job.audit_seq += 1
    job.audit_head = digest
    await session.flush()
    return entry


def _as_content(entry: AuditEntry) -> dict[str, Any]:
    out = {k: getattr(entry, k) for k in FIELDS}
    out.update(id=entry.id, prev_hash=entry.prev_hash, hash=entry.hash)
    return out


@dataclass(frozen=True)
class ChainReport:
    job_id: int
    entries: list[AuditEntry]
    broken: Break | None

    @property
    def verified(self) -> bool:
        return self.broken is None


def _check(job: Job, entries: list[AuditEntry]) -> Break | None:
    broken = first_break(_as_content(e) for e in entries)
    if broken is not None:
        return broken
    last = entries[-1] if entries else None
    head = last.hash if last else GENESIS
    if (last.seq if last else 0) != job.audit_seq or head != job.audit_head:
        ident = last.id if last else 0
        return Break(ident, last.seq if last else 0, "entries after this one are missing")
    return None


async def verify_job_chain(session: AsyncSession, job: Job) -> ChainReport:
    query = select(AuditEntry).where(AuditEntry.job_id == job.id).order_by(AuditEntry.seq)
    entries = list((await session.execute(query)).scalars())
    return ChainReport(job.id, entries, _check(job, entries))


async def verify_all_chains(session: AsyncSession) -> list[ChainReport]:
    """Every job's chain, checked; the broken ones first, then in job order."""
    jobs = (await session.execute(select(Job).order_by(Job.id))).scalars().all()
    reports = [await verify_job_chain(session, job) for job in jobs]
    return sorted(reports, key=lambda r: (r.verified, r.job_id))
