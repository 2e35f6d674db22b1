"""Availability reports from apps, GPS trackers, MQTT devices and webhooks, in one form.

Every report is validated, deduplicated by ``(source, event_id)``, and either kept in the
history (and applied to the technician's latest state when it is the newest known) or kept
in the dead letters with the reason it was refused. Nothing that arrives is dropped silently.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Select, String, Table, any_, bindparam, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection, Request

from routeboard.availability.cache import StateCache, refresh
from routeboard.availability.geofence import Fix
from routeboard.availability.service import (
    OFFLINE,
    AvailabilityRules,
    Whereabouts,
    announce_status,
    apply_fix,
    back_online,
    update_eta,
    whereabouts,
)
from routeboard.db import ID_MAX
from routeboard.deps import Actor, actor_from_api_key, client_of
from routeboard.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound
from routeboard.events.schemas import TechnicianLocated
from routeboard.events.service import Broadcaster, record_events, take_committed
from routeboard.ingest.mqtt import topic_technician
from routeboard.ingest.schemas import (
    MAX_BATCH,
    IngestAnswer,
    IngestEvent,
    IngestResult,
    storable,
)
from routeboard.metrics.service import ingested, observe_lag
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
    # What can be told of the sender from a payload that may be anything at all.
    item = payload if isinstance(payload, dict) else {}
    claimed_source, event_id, tech = item.get("source", source), item.get("event_id"), None
    if isinstance(item.get("technician_id"), int) and 0 < item["technician_id"] <= ID_MAX:
        tech = item["technician_id"]
    row = RejectedReport(
        # Texts as storable as the payload: PostgreSQL refuses a NUL in any of them.
        source=storable(str(claimed_source)[:10]) if claimed_source else None,
        event_id=storable(str(event_id)[:100]) if event_id is not None else None,
        technician_id=tech,
        reason=reason,
        detail=storable(detail[:2000]),
        payload=storable(payload),
        received_at=actor.at,
        api_key_id=actor.api_key_id,
    )
    session.add(row)
    return row


async def ingest_events(
    session: AsyncSession,
    raw: Sequence[Any],
    *,
    actor: Actor,
    rules: AvailabilityRules | None = None,
) -> IngestAnswer:
    """Validate, deduplicate, keep and apply a batch of reports; one answer per report."""
    rules = rules or AvailabilityRules()
    results: list[IngestResult] = []
    valid: list[tuple[int, IngestEvent]] = []
    try:  # the whole batch in one call when it is all good (the usual case), else one by one
        valid = list(enumerate(REPORTS.validate_python(raw)))
    except ValidationError:
        for index, item in enumerate(raw):
            try:
                valid.append((index, IngestEvent.model_validate(item)))
            except ValidationError as exc:
                detail = _describe(exc)
                await reject(session, item, "invalid", detail, actor=actor)
                results.append(_refused(index, item, "invalid", detail))
    parsed = dict(valid)
    keys: set[tuple[str, str]] = {(r.source, r.event_id) for _, r in valid}
    known: set[tuple[str, str]] = set()
    if keys:
        rows = await session.execute(_seen(keys, session.get_bind().dialect.name))
        known = {(str(s), str(e)) for s, e in rows} & keys
    tech_ids = {r.technician_id for _, r in valid}
    active = set(
        (
            await session.execute(
                select(Technician.id).where(Technician.id.in_(tech_ids), Technician.active)
            )
        ).scalars()
    )
    fresh: list[tuple[int, IngestEvent]] = []
    horizon = actor.at + FUTURE_SLACK
    for index, report in valid:
        key = (report.source, report.event_id)
        if key in known:
            results.append(IngestResult(index=index, event_id=report.event_id, outcome="duplicate"))
            continue
        reason = _refusal(report, actor, active, horizon)
        if reason is not None:
            code, detail = reason
            payload = report.model_dump(mode="json")
            await reject(session, payload, code, detail, actor=actor)
            results.append(_refused(index, payload, code, detail))
            continue
        known.add(key)  # the same report twice in one batch: the second is a duplicate
        fresh.append((index, report))
    batch = Batch(session, rules, actor)
    await batch.load([r for _, r in fresh])
    history: list[dict[str, Any]] = []
    for index, report in fresh:
        applied = await batch.apply(report)
        history.append(_history(report, applied, actor))
        results.append(
            IngestResult(index=index, event_id=report.event_id, outcome="accepted", applied=applied)
        )
    if history:
        # One statement for the batch: a row object per report would cost more than the rest.
        connection = await session.connection()
        await connection.execute(insert(HISTORY), history)
    latest = await batch.finish()  # each technician's newest applied position
    located = [
        TechnicianLocated(
            technician_id=r.technician_id, lat=r.lat, lon=r.lon, accuracy_m=r.accuracy_m,
            speed_mps=r.speed_mps, heading=r.heading, battery=r.battery,
            recorded_at=r.recorded_at, source=r.source,
        )
        for r in latest
        if r.lat is not None and r.lon is not None
    ]  # fmt: skip
    if located:
        await record_events(session, located, at=actor.at)
    await session.flush()
    results.sort(key=lambda r: r.index)
    tally: Counter[tuple[str | None, str, str | None]] = Counter()
    for result in results:
        item = raw[result.index] if isinstance(raw[result.index], dict) else {}
        known_report = parsed.get(result.index)
        source = known_report.source if known_report else item.get("source")
        tally[(source, result.outcome, result.reason)] += 1
    for newest in latest:  # each technician's newest position: the live latency
        observe_lag(newest.source, (actor.at - newest.recorded_at).total_seconds())
    for (label, outcome, why), n in tally.items():
        ingested(label, outcome, why, n)
    count = {o: sum(r.outcome == o for r in results) for o in ("accepted", "duplicate", "rejected")}
    return IngestAnswer(
        accepted=count["accepted"],
        duplicates=count["duplicate"],
        rejected=count["rejected"],
        results=results,
    )


def _seen(keys: Collection[tuple[str, str]], dialect: str) -> Select[str, str]:
    """Which of these ``(source, event_id)`` pairs are already in the history.

    Not a list of row values: both databases scan the whole history for that. SQLite walks the
    unique index for two IN lists; PostgreSQL for one array parameter (a list of 1,000
    parameters becomes a linear search per row once the prepared plan goes generic).
    """
    query = select(AvailabilityEvent.source, AvailabilityEvent.event_id).where(
        AvailabilityEvent.source.in_({s for s, _ in keys})
    )
    ids = sorted({e for _, e in keys})
    if dialect == "postgresql":
        return query.where(
            AvailabilityEvent.event_id == any_(bindparam("ids", ids, type_=ARRAY(String)))
        )
    return query.where(AvailabilityEvent.event_id.in_(ids))


def _refused(index: int, item: Any, reason: str, detail: str) -> IngestResult:
    event_id = item.get("event_id") if isinstance(item, dict) else None
    return IngestResult(
        index=index,
        event_id=str(event_id) if event_id is not None else None,
        outcome="rejected",
        reason=reason,
        detail=detail,
    )


REPORTS = TypeAdapter(list[IngestEvent])
HISTORY = cast(Table, AvailabilityEvent.__table__)  # Core, not ORM: no object per row
FUTURE_SLACK = timedelta(minutes=5)  # devices' clocks drift; more than this is wrong


def _refusal(
    report: IngestEvent, actor: Actor, active: set[int], horizon: datetime
) -> tuple[str, str] | None:
    if actor.role == "device" and report.technician_id != actor.technician_id:
        return (
            "technician_scope",
            f"this key reports for technician {actor.technician_id} only",
        )
    if report.technician_id not in active:
        return "unknown_technician", f"no active technician {report.technician_id}"
    if report.recorded_at > horizon:
        # A clock that runs ahead would otherwise pin the latest state until it is caught up.
        return "future_timestamp", f"recorded_at is after the server's clock ({actor.at})"
    return None


def _history(report: IngestEvent, applied: bool, actor: Actor) -> dict[str, Any]:
    return dict(
        source=report.source, event_id=report.event_id, technician_id=report.technician_id,
        kind=report.kind, status=report.status, lat=report.lat, lon=report.lon,
        accuracy_m=report.accuracy_m, speed_mps=report.speed_mps, heading=report.heading,
        battery=report.battery, recorded_at=report.recorded_at, received_at=actor.at,
        attributes=report.attributes, applied=applied, api_key_id=actor.api_key_id,
    )  # fmt: skip


class Batch:
    """A batch's reports applied to the technicians' latest states.

    Their rows and whereabouts are loaded once for the whole batch, and the newest position,
    battery and last-heard-from time are written to each row once, at the end (or before a
    status change is announced): per report, only what a report can change is judged.
    """

    def __init__(self, session: AsyncSession, rules: AvailabilityRules, actor: Actor) -> None:
        self.session, self.rules, self.actor = session, rules, actor
        self.rows: dict[int, TechnicianStatus] = {}
        self.places: dict[int, Whereabouts] = {}
        self.newest: dict[int, datetime] = {}  # reported_at, as far as the batch has got
        self.seen: dict[int, datetime] = {}
        self.position: dict[int, IngestEvent] = {}
        self.battery: dict[int, float] = {}

    async def load(self, reports: Sequence[IngestEvent]) -> None:
        ids = {r.technician_id for r in reports}
        if not ids:
            return
        query = (
            select(TechnicianStatus)
            .where(TechnicianStatus.technician_id.in_(ids))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        self.rows = {r.technician_id: r for r in (await self.session.execute(query)).scalars()}
        located = {r.technician_id for r in reports if r.lat is not None}
        if located:
            self.places = await whereabouts(self.session, located, rules=self.rules)

    def row(self, technician_id: int, at: datetime) -> TechnicianStatus:
        row = self.rows.get(technician_id)
        if row is None:
            row = TechnicianStatus(
                technician_id=technician_id, status="unknown", since=at, last_seen_at=at
            )
            self.session.add(row)
            self.rows[technician_id] = row
        return row

    async def apply(self, report: IngestEvent) -> bool:
        """Move the technician's latest state forward; False (and nothing changed) when a newer
        report is already applied: a late packet must not rewind the present."""
        at, tid = report.recorded_at, report.technician_id
        row = self.row(tid, at)
        newest = self.newest.get(tid, row.reported_at)
        if newest is not None and at < newest:
            return False
        self.newest[tid] = at
        self.seen[tid] = max(self.seen.get(tid, row.last_seen_at), at)
        if report.lat is not None:
            self.position[tid] = report
        if report.battery is not None:
            self.battery[tid] = report.battery
        status: str | None = report.status
        if report.lat is not None and report.lon is not None:
            where = self.places[tid]
            if where.fences or row.fences:
                fix = Fix(report.lat, report.lon, at, report.accuracy_m)
                arrived = await apply_fix(
                    self.session, row, fix, where, rules=self.rules, now=self.actor.at
                )
                status = status or arrived
        if status is None and row.status == OFFLINE:
            status = await back_online(self.session, tid)  # heard from again
        if status is not None and status != row.status:
            self.settle(tid)
            row.status, row.since = status, at
            await self.session.flush()
            await announce_status(self.session, row, at=self.actor.at)
        return True

    def settle(self, technician_id: int) -> None:
        """Write what the batch has learned of this technician so far into their row."""
        row = self.rows[technician_id]
        row.reported_at = self.newest[technician_id]
        row.last_seen_at = self.seen[technician_id]
        report = self.position.get(technician_id)
        if report is not None:
            row.lat, row.lon, row.position_at = report.lat, report.lon, report.recorded_at
            row.accuracy_m, row.speed_mps = report.accuracy_m, report.speed_mps
            row.heading = report.heading
        if technician_id in self.battery:
            row.battery = self.battery[technician_id]

    async def finish(self) -> list[IngestEvent]:
        """Settle every row, and estimate arrivals from each driving technician's newest
        position; returns those newest positions."""
        for technician_id in self.newest:
            self.settle(technician_id)
        for technician_id, report in self.position.items():
            if self.rows[technician_id].status == "en_route":
                assert report.lat is not None
                assert report.lon is not None
                fix = Fix(report.lat, report.lon, report.recorded_at, report.accuracy_m)
                job = self.places[technician_id].active
                await update_eta(self.session, job, fix, rules=self.rules, now=self.actor.at)
        return list(self.position.values())


async def list_rejected(
    session: AsyncSession, *, page: PageParams
) -> tuple[list[RejectedReport], int]:
    query = select(RejectedReport).order_by(RejectedReport.id.desc())
    return await paginate(session, query, page)


KNOTS = 0.514444  # m/s: the OsmAnd protocol's speed unit (Traccar Client sends knots)


def osmand_report(params: Mapping[str, str], technician_id: int, key_prefix: str) -> dict[str, Any]:
    """An OsmAnd request's parameters as a normalised report (validated by the caller).

    Fields: ``lat``, ``lon``, ``timestamp`` (Unix seconds or milliseconds, or ISO 8601),
    ``speed`` (knots), ``bearing``, ``accuracy`` (m), ``batt`` (%). The report's id is the
    device and the instant, so a tracker resending a fix is a duplicate, not a second report.
    """
    stamp = params.get("timestamp", "")
    at: Any = stamp
    if stamp.replace(".", "", 1).isdigit():
        seconds = float(stamp)
        at = datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, UTC)
    report: dict[str, Any] = {
        "event_id": f"osmand:{key_prefix}:{stamp}",
        "technician_id": technician_id,
        "kind": "location",
        "lat": params.get("lat"),
        "lon": params.get("lon"),
        "recorded_at": at.isoformat() if isinstance(at, datetime) else at,
        "source": "gps",
        "attributes": {k: params[k] for k in ("altitude",) if k in params},
    }
    for name, key, scale in (
        ("speed_mps", "speed", KNOTS), ("heading", "bearing", 1.0),
        ("accuracy_m", "accuracy", 1.0), ("battery", "batt", 1.0),
    ):  # fmt: skip
        if params.get(key):
            try:
                report[name] = round(float(params[key]) * scale, 3)
            except ValueError:
                report[name] = params[key]  # refused by validation, with the field named
    if isinstance(report.get("heading"), float):
        report["heading"] = report["heading"] % 360
    return report


SIGNATURE_TOLERANCE = timedelta(minutes=5)


def verify_webhook(
    secret: str, body: bytes, timestamp: str | None, signature: str | None, *, now: datetime
) -> None:
    """``X-Routeboard-Signature: sha256=<hex>`` of ``<X-Routeboard-Timestamp>.<body>``.

    The timestamp (Unix seconds) is signed with the body and must be within five minutes,
    so a captured request cannot be replayed later.
    """
    if not timestamp or not signature or not timestamp.isdigit():
        raise NotAuthenticated(
            "the webhook needs a timestamp and a signature", code="bad_signature"
        )
    sent = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(now - sent) > SIGNATURE_TOLERANCE:
        raise NotAuthenticated("the webhook's timestamp is too old or new", code="stale_signature")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    given = signature.removeprefix("sha256=")
    if not hmac.compare_digest(expected.hexdigest(), given):
        raise NotAuthenticated("the webhook's signature does not match", code="bad_signature")


def reports_in(payload: Any, *, source: str) -> list[Any]:
    """The documented mapping: ``{"events": [report, ...]}`` or one report; every report is
    a normalised report whose ``source`` is forced to the way it came in."""
    items = payload.get("events", [payload]) if isinstance(payload, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise InvalidInput(
            f"expected a report or {{'events': [...]}} with 1 to {MAX_BATCH} reports",
            code="invalid_webhook",
        )
    return [{**i, "source": source} if isinstance(i, dict) else i for i in items]


async def ingest_osmand(
    session: AsyncSession,
    params: Mapping[str, str],
    *,
    request: Request,
    now: datetime,
    rules: AvailabilityRules | None = None,
) -> IngestResult:
    """One position from a GPS tracker app speaking OsmAnd; ``id`` is the device's API key."""
    try:
        actor = await actor_from_api_key(request, session, params.get("id", ""), now)
    except NotAuthenticated:
        raise NotAuthenticated(
            "the id is not a live device key", code="invalid_device", details={"field": "id"}
        ) from None
    if actor.role != "device" or actor.technician_id is None:
        raise Forbidden("OsmAnd reports need a key scoped to one technician", code="not_a_device")
    report = osmand_report(params, actor.technician_id, actor.username)
    return (await ingest_events(session, [report], actor=actor, rules=rules)).results[0]


async def ingest_webhook(
    session: AsyncSession,
    body: bytes,
    *,
    secret: str | None,
    timestamp: str | None,
    signature: str | None,
    request: HTTPConnection,
    now: datetime,
    rules: AvailabilityRules | None = None,
) -> IngestAnswer:
    """Reports pushed by other software, signed with the shared secret."""
    if not secret:
        raise NotFound("the availability webhook is not configured", code="webhook_disabled")
    verify_webhook(secret, body, timestamp, signature, now=now)
    try:
        payload = json.loads(body)
    except ValueError:
        raise InvalidInput("the body is not JSON", code="invalid_webhook") from None
    addr, agent = client_of(request)
    actor = Actor(None, "webhook", "integration", None, None, addr, agent, now)
    reports = reports_in(payload, source="webhook")
    return await ingest_events(session, reports, actor=actor, rules=rules)


async def ingest_mqtt_message(
    maker: async_sessionmaker[AsyncSession],
    broadcaster: Broadcaster,
    topic: str,
    payload: bytes,
    *,
    pattern: str,
    now: datetime,
    rules: AvailabilityRules | None = None,
    cache: StateCache | None = None,
) -> IngestAnswer | None:
    """One MQTT message, in its own transaction: one report, a list, or ``{"events": [...]}``.

    The topic names the technician (``routeboard/technicians/<id>/events``): a device may only
    report for the technician of its topic, as a device key may only for its own.
    """
    segment = topic_technician(topic, pattern)
    actor = Actor(
        None, f"mqtt:{topic}"[:120], "device", int(segment) if segment and segment.isdigit()
        else None, None, None, None, now,
    )  # fmt: skip
    async with maker() as session:
        answer = None
        try:
            decoded = json.loads(payload)
            # A bare list is a batch too, held to the same size limit (nothing cut silently).
            items = reports_in(
                decoded if isinstance(decoded, dict) else {"events": decoded}, source="mqtt"
            )
        except (ValueError, InvalidInput) as exc:
            text = payload.decode("utf-8", "replace")[:10_000]
            where: dict[str, Any] = {"topic": topic, "payload": text}
            await reject(session, where, "invalid", str(exc), actor=actor, source="mqtt")
        else:
            if actor.technician_id is None:
                why = "the topic names no technician"
                where = {"topic": topic, "payload": decoded}
                await reject(session, where, "technician_scope", why, actor=actor, source="mqtt")
            else:
                reports = [
                    {"technician_id": actor.technician_id, **i} if isinstance(i, dict) else i
                    for i in items
                ]
                answer = await ingest_events(session, reports, actor=actor, rules=rules)
        await session.commit()
        events = take_committed(session)
        if events:
            await broadcaster.publish(events)
        if cache is not None:
            await refresh(session, cache)
    return answer


async def dead_letter_mqtt(
    maker: async_sessionmaker[AsyncSession],
    topic: str,
    payload: bytes,
    error: Exception,
    *,
    now: datetime,
) -> None:
    """Keep an MQTT message the handler kept failing on, with the error, among the refused
    reports; raises if the database cannot take it either (the subscriber then retries)."""
    actor = Actor(None, f"mqtt:{topic}"[:120], "device", None, None, None, None, now)
    where = {"topic": topic, "payload": payload.decode("utf-8", "replace")[:10_000]}
    async with maker() as session:
        detail = f"{type(error).__name__}: {error}"
        await reject(session, where, "handler_failed", detail, actor=actor, source="mqtt")
        await session.commit()
