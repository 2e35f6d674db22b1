"""Availability reports from apps, GPS trackers, MQTT devices and webhooks, in one form.

Every report is validated, deduplicated by ``(source, event_id)``, and either kept in the
history (and applied to the technician's latest state when it is the newest known) or kept
in the dead letters with the reason it was refused. Nothing that arrives is dropped silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.deps import Actor
from routeboard.events.schemas import TechnicianLocated, TechnicianStatusChanged
from routeboard.events.service import record_event
from routeboard.ingest.schemas import IngestAnswer, IngestEvent, IngestResult
from routeboard.models import AvailabilityEvent, RejectedReport, Technician, TechnicianStatus
from routeboard.pagination import PageParams, paginate


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'report'}: {e['msg']}" for e in exc.errors()
    )


async def reject(
    session: AsyncSession,
    payload: Any,
    reason: str,
    detail: str,
    *,
    actor: Actor,
    source: str | None = None,
) -> RejectedReport:
    """Keep a report that cannot be used, with why, for an admin to look at."""
    item = payload if isinstance(payload, dict) else {}
    row = RejectedReport(
        source=str(item.get("source", source))[:10] if item.get("source", source) else None,
        event_id=str(item["event_id"])[:100] if item.get("event_id") is not None else None,
        technician_id=item.get("technician_id")
        if isinstance(item.get("technician_id"), int)
        else None,
        reason=reason,
        detail=detail[:2000],
        payload=payload,
        received_at=actor.at,
        api_key_id=actor.api_key_id,
    )
    session.add(row)
    return row


async def ingest_events(session: AsyncSession, raw: Sequence[Any], *, actor: Actor) -> IngestAnswer:
    """Validate, deduplicate, keep and apply a batch of reports; one answer per report."""
    results: list[IngestResult] = []
    valid: list[tuple[int, IngestEvent]] = []
    for index, item in enumerate(raw):
        try:
            valid.append((index, IngestEvent.model_validate(item)))
        except ValidationError as exc:
            detail = _describe(exc)
            await reject(session, item, "invalid", detail, actor=actor)
            results.append(_refused(index, item, "invalid", detail))
    keys = {(r.source, r.event_id) for _, r in valid}
    known = set()
    if keys:
        rows = await session.execute(
            select(AvailabilityEvent.source, AvailabilityEvent.event_id).where(
                tuple_(AvailabilityEvent.source, AvailabilityEvent.event_id).in_(keys)
            )
        )
        known = {(s, e) for s, e in rows}
    tech_ids = {r.technician_id for _, r in valid}
    active = set(
        (
            await session.execute(
                select(Technician.id).where(Technician.id.in_(tech_ids), Technician.active)
            )
        ).scalars()
    )
    latest: dict[int, IngestEvent] = {}  # the newest applied location per technician
    for index, report in valid:
        key = (report.source, report.event_id)
        if key in known:
            results.append(IngestResult(index=index, event_id=report.event_id, outcome="duplicate"))
            continue
        reason = _refusal(report, actor, active)
        if reason is not None:
            code, detail = reason
            payload = report.model_dump(mode="json")
            await reject(session, payload, code, detail, actor=actor)
            results.append(_refused(index, payload, code, detail))
            continue
        known.add(key)
        applied = await _apply(session, report, actor=actor)
        if applied and report.lat is not None:
            latest[report.technician_id] = report
        session.add(_history(report, applied, actor))
        results.append(
            IngestResult(index=index, event_id=report.event_id, outcome="accepted", applied=applied)
        )
    for report in latest.values():
        assert report.lat is not None
        assert report.lon is not None
        await record_event(
            session,
            TechnicianLocated(
                technician_id=report.technician_id, lat=report.lat, lon=report.lon,
                accuracy_m=report.accuracy_m, speed_mps=report.speed_mps,
                heading=report.heading, battery=report.battery,
                recorded_at=report.recorded_at, source=report.source,
            ),
            at=actor.at,
        )  # fmt: skip
    await session.flush()
    results.sort(key=lambda r: r.index)
    count = {o: sum(r.outcome == o for r in results) for o in ("accepted", "duplicate", "rejected")}
    return IngestAnswer(
        accepted=count["accepted"],
        duplicates=count["duplicate"],
        rejected=count["rejected"],
        results=results,
    )


def _refused(index: int, item: Any, reason: str, detail: str) -> IngestResult:
    event_id = item.get("event_id") if isinstance(item, dict) else None
    return IngestResult(
        index=index,
        event_id=str(event_id) if event_id is not None else None,
        outcome="rejected",
        reason=reason,
        detail=detail,
    )


def _refusal(report: IngestEvent, actor: Actor, active: set[int]) -> tuple[str, str] | None:
    if actor.role == "device" and report.technician_id != actor.technician_id:
        return (
            "technician_scope",
            f"this key reports for technician {actor.technician_id} only",
        )
    if report.technician_id not in active:
        return "unknown_technician", f"no active technician {report.technician_id}"
    return None


def _history(report: IngestEvent, applied: bool, actor: Actor) -> AvailabilityEvent:
    return AvailabilityEvent(
        source=report.source, event_id=report.event_id, technician_id=report.technician_id,
        kind=report.kind, status=report.status, lat=report.lat, lon=report.lon,
        accuracy_m=report.accuracy_m, speed_mps=report.speed_mps, heading=report.heading,
        battery=report.battery, recorded_at=report.recorded_at, received_at=actor.at,
        attributes=report.attributes, applied=applied, api_key_id=actor.api_key_id,
    )  # fmt: skip


async def _apply(session: AsyncSession, report: IngestEvent, *, actor: Actor) -> bool:
    """Move the technician's latest state forward; False (and nothing changed) when a newer
    report is already applied: a late packet must not rewind the present."""
    at: datetime = report.recorded_at
    row = await session.get(TechnicianStatus, report.technician_id, with_for_update=True)
    if row is None:
        row = TechnicianStatus(
            technician_id=report.technician_id, status="unknown", since=at, last_seen_at=at
        )
        session.add(row)
    elif row.reported_at is not None and at < row.reported_at:
        return False
    row.reported_at = at
    row.last_seen_at = max(row.last_seen_at, at)
    if report.lat is not None:
        row.lat, row.lon, row.position_at = report.lat, report.lon, at
        row.accuracy_m, row.speed_mps = report.accuracy_m, report.speed_mps
        row.heading = report.heading
    if report.battery is not None:
        row.battery = report.battery
    if report.status is not None and report.status != row.status:
        row.status, row.since = report.status, at
        await session.flush()
        await record_event(
            session,
            TechnicianStatusChanged(
                technician_id=report.technician_id, status=row.status, since=row.since,
                last_seen_at=row.last_seen_at,
            ),
            at=actor.at,
        )  # fmt: skip
    return True


async def list_rejected(
    session: AsyncSession, *, page: PageParams
) -> tuple[list[RejectedReport], int]:
    query = select(RejectedReport).order_by(RejectedReport.id.desc())
    return await paginate(session, query, page)
