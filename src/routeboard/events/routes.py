"""Live streams: Server-Sent Events and a WebSocket, with snapshot, resume and access rules.

A fresh connection gets a ``snapshot`` (the board for a day, or one job) carrying the id of the
last event it includes, then every later event with its ``id``. A reconnection with
``Last-Event-ID`` gets exactly the events it missed, from the events table, then goes live with
no gap: the stream subscribes *before* reading, and drops the live events its opening already
covered (and any it has just sent). Every event passes the caller's access rules before it is
written.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import date
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Header, Query, WebSocket, WebSocketDisconnect
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from routeboard.access import Authorized, event_visible
from routeboard.availability.cache import refresh
from routeboard.availability.service import set_status, visible_statuses
from routeboard.config import Settings
from routeboard.db import ID_MAX, Id
from routeboard.deps import Actor, SessionDep, actor_from_bearer, actor_from_cookie
from routeboard.errors import DomainError
from routeboard.events import service
from routeboard.events.board import BoardFilter
from routeboard.events.hub import (
    LAGGED,
    RECONNECT,
    Hub,
    Subscriber,
    encode,
    matches,
    sse_frame,
)
from routeboard.events.schemas import EventHistory
from routeboard.events.service import board_cards, last_event_id, replay, take_committed
from routeboard.schedule.schemas import Day
from routeboard.security import secure_headers

router = APIRouter(prefix="/api/v1", tags=["events"])
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def _opening(
    app: Starlette, actor: Actor, where: BoardFilter, resume_from: int | None
) -> tuple[list[tuple[int, bytes]], int]:
    """The frames that open a stream (a replay or a snapshot) and the last event id they cover."""
    maker = app.state.sessionmaker
    settings: Settings = app.state.settings
    async with maker() as session:
        if resume_from is not None:
            missed = await replay(session, resume_from)
            if missed is not None:
                # The stream's own filter too: a tracking link's stream replays its job alone.
                frames = [
                    (e.id, encode(actor, e))
                    for e in missed
                    if event_visible(actor, e.event) and matches(where, e.event)
                ]
                return frames, max([resume_from, *(e.id for e in missed)])
        # The id is read before the jobs: an event committed in between is both in the snapshot
        # and re-sent live, and applying a card twice changes nothing.
        upto = await last_event_id(session)
        cards = await board_cards(session, actor, where, settings.tz)
        technicians = (
            # From the database, not the cache: read after ``upto``, so that an event the
            # snapshot covers is never missing from it (see ADR 0012).
            await visible_statuses(
                session,
                actor,
                now=app.state.clock(),
                ttl=settings.availability_ttl,
                branch_id=where.branch_id,
            )
            if where.job_id is None
            else []
        )
    body = {
        "last_event_id": upto,
        "date": where.day.isoformat() if where.day else None,
        "technician_id": where.technician_id,
        "job_id": where.job_id,
        "branch": where.branch_id,
        "jobs": [c.model_dump(mode="json") for c in cards],
        "technicians": [t.model_dump(mode="json") for t in technicians],
    }
    return [(upto, sse_frame(upto, "snapshot", json.dumps(body)))], upto


HANDOFF = "routeboard.stream"


class EventStreamResponse(Response):
    """A live Server-Sent Events response: the opening, then whatever the hub writes to it.

    The connection's own task writes the opening and then only waits, for the client to leave
    or the stream's lifetime to run out; live events are written by the hub (see ``hub``).
    """

    def __init__(
        self,
        actor: Actor,
        where: BoardFilter,
        resume_from: int | None = None,
        still_allowed: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        # No class-level media type: FastAPI would document the JSON errors as event streams.
        super().__init__(headers={**SSE_HEADERS, "Content-Type": "text/event-stream"})
        self.actor = actor
        self.where = where
        self.resume_from = resume_from
        self.still_allowed = still_allowed
        self.app: Starlette | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Nothing is sent from inside the framework: the app runs the stream once the request's
        # middleware, dependencies and exit stacks have returned (``Routeboard.__call__``), so
        # an open stream holds only the connection and its ``Stream``, not a request's frames.
        self.app = scope["app"]
        scope[HANDOFF] = self

    async def run(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.app
        assert app is not None, "run only after the route answered"
        hub: Hub = app.state.hub
        settings: Settings = app.state.settings
        lifetime = settings.stream_max_seconds
        start = asyncio.get_running_loop().time()
        headers = secure_headers(
            scope["path"], [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        )
        # The CORS middleware's send is bypassed too (see ``run``'s caller): same rule here.
        origin = Headers(scope=scope).get("origin")
        if origin and origin in settings.cors_origins:
            headers += [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        hello = f"retry: 3000\n: routeboard stream for {self.actor.role}\n\n".encode()
        await send({"type": "http.response.body", "body": hello, "more_body": True})
        # Subscribed before the opening is read, so nothing committed meanwhile is missed.
        stream = hub.attach(self.actor, self.where, send, self.still_allowed)
        try:
            opening, stream.covered = await _opening(app, self.actor, self.where, self.resume_from)
            body = b"".join(frame for _, frame in opening)
            del opening  # the snapshot can be large; the connection may live for hours
            while body:
                await send({"type": "http.response.body", "body": body, "more_body": True})
                body = stream.take()
            stream.ready = True
            hub.dirty.add(stream)
            hub.schedule_flush()
            remaining = lifetime - (asyncio.get_running_loop().time() - start)
            try:
                async with asyncio.timeout(max(remaining, 0)):
                    await _until_disconnected(receive)
                return
            except TimeoutError:
                stream.end(RECONNECT)
                hub.schedule_flush()
            # The hub writes the last frame; wait for it (bounded: a client that stopped
            # reading is simply dropped).
            with suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await _until_disconnected(receive)
        finally:
            hub.unsubscribe(stream)


async def _until_disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def event_stream(
    actor: Actor,
    where: BoardFilter,
    resume_from: int | None = None,
    still_allowed: Callable[[], Awaitable[bool]] | None = None,
) -> EventStreamResponse:
    return EventStreamResponse(actor, where, resume_from, still_allowed)


def _filter(
    day: date | None, technician_id: int | None, job_id: int | None, branch_id: int | None = None
) -> BoardFilter:
    return BoardFilter(day=day, technician_id=technician_id, job_id=job_id, branch_id=branch_id)


@router.get(
    "/stream",
    response_class=EventStreamResponse,
    status_code=200,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    actor: Authorized,
    day: Annotated[Day | None, Query(alias="date", description="Business-local day")] = None,
    technician_id: Id | None = None,
    job_id: Id | None = None,
    branch: Annotated[Id | None, Query(description="One branch's technicians and jobs")] = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    last_event_id: Annotated[
        int | None, Query(ge=0, le=ID_MAX, description="Resume after this id")
    ] = None,
) -> EventStreamResponse:
    """Server-Sent Events: a snapshot (or the missed events), then live events.

    With ``branch``, the snapshot holds that branch's technicians and its jobs plus those not
    given to a branch yet; events are not narrowed by branch (a job moving to another branch
    must leave this board too), and the card's ``branch_id`` tells the client where it goes.
    """
    resume = last_event_id
    if last_event_id_header and last_event_id_header.isdigit() and len(last_event_id_header) < 19:
        resume = int(last_event_id_header)
    where = _filter(day, technician_id, job_id, branch)
    return EventStreamResponse(actor, where, resume)


@router.get("/events", response_model=EventHistory)
async def list_events(
    session: SessionDep,
    actor: Authorized,
    technician_id: Id | None = None,
    job_id: Id | None = None,
    type: Annotated[
        str | None, Query(max_length=40, description="e.g. technician.geofence")
    ] = None,
    after_id: Annotated[int, Query(ge=0, le=ID_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventHistory:
    """The stored events in id order (geofence arrivals and departures included)."""
    items = await service.list_events(
        session, technician_id=technician_id, job_id=job_id, type=type, after_id=after_id,
        limit=limit,
    )  # fmt: skip
    last = items[-1].id if len(items) == limit else None
    return EventHistory(items=items, next_after_id=last)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_site_origin(websocket: WebSocket) -> bool:
    """Whether the page that opened this socket is ours (or a configured origin).

    A cross-site page can open a WebSocket to us and the browser attaches our cookie: unlike
    ``fetch``, the handshake is not held back by CORS, so the Origin header is checked here.
    A client that sends no Origin is not a browser page and carries no cookie by accident.
    """
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    settings: Settings = websocket.app.state.settings
    allowed = {_origin(o) for o in settings.cors_origins} | {_origin(settings.public_url)}
    host = websocket.headers.get("host")
    if host:
        allowed |= {f"http://{host}".lower(), f"https://{host}".lower()}
    return origin.rstrip("/").lower() in allowed


async def _ws_actor(websocket: WebSocket) -> Actor | None:
    """Browsers cannot set headers on a WebSocket: the page cookie (from our own pages only) or
    ``?access_token=``."""
    now = websocket.app.state.clock()
    async with websocket.app.state.sessionmaker() as session:
        token = websocket.query_params.get("access_token")
        try:
            if token:
                return await actor_from_bearer(websocket, session, token, now)
            cookie = websocket.cookies.get("rb_session")
            if cookie and same_site_origin(websocket):
                return await actor_from_cookie(websocket, session, cookie, now)
        except DomainError:
            return None
    return None


@router.websocket("/ws")
async def websocket_stream(websocket: WebSocket) -> None:
    """The same events and resume rules as /stream, as JSON messages. The client may change its
    filters with ``{"type": "filter", "date", "technician_id", "job_id", "branch",
    "last_event_id"}``, and a
    technician may report ``{"type": "status", "status": "available" | "break" | "off_duty"}``."""
    actor = await _ws_actor(websocket)
    if actor is None or actor.role not in ("admin", "dispatcher", "technician", "customer"):
        await websocket.close(code=4401)
        return
    await websocket.accept()
    hub: Hub = websocket.app.state.hub
    params = websocket.query_params
    where = _filter(
        date.fromisoformat(params["date"]) if params.get("date") else None,
        int(params["technician_id"]) if params.get("technician_id") else None,
        int(params["job_id"]) if params.get("job_id") else None,
        int(params["branch"]) if params.get("branch", "").isdigit() else None,
    )
    resume = int(params["last_event_id"]) if params.get("last_event_id", "").isdigit() else None
    sub: Subscriber | None = None
    try:
        while True:
            sub = hub.subscribe(actor, where)
            opening, covered = await _opening(websocket.app, actor, where, resume)
            for _, frame in opening:
                await websocket.send_text(_as_json(frame))
            del opening
            recent: deque[int] = deque(maxlen=256)
            incoming = asyncio.ensure_future(websocket.receive_json())
            while True:
                getter = asyncio.ensure_future(sub.queue.get())
                done, _ = await asyncio.wait(
                    {incoming, getter}, return_when=asyncio.FIRST_COMPLETED
                )
                if getter in done:
                    event_id, frame, _ = getter.result()
                    if event_id == LAGGED:
                        await websocket.close(code=4408, reason="fell behind; reconnect")
                        return
                    if event_id > covered and event_id not in recent:
                        recent.append(event_id)
                        await websocket.send_text(_as_json(frame))
                else:
                    getter.cancel()
                if incoming in done:
                    message = incoming.result()
                    if message.get("type") == "filter":
                        day = message.get("date")
                        where = _filter(
                            date.fromisoformat(day) if day else None,
                            message.get("technician_id"),
                            message.get("job_id"),
                            message.get("branch"),
                        )
                        resume = message.get("last_event_id")
                        hub.unsubscribe(sub)
                        break
                    if message.get("type") == "status":
                        await websocket.send_json(
                            await _status_from_socket(websocket, actor, message)
                        )
                    else:
                        await websocket.send_json(
                            {"type": "error", "error": "unsupported", "message": "unknown message"}
                        )
                    incoming = asyncio.ensure_future(websocket.receive_json())
    except WebSocketDisconnect:
        pass
    finally:
        if sub is not None:
            hub.unsubscribe(sub)


async def _status_from_socket(
    websocket: WebSocket, actor: Actor, message: dict[str, object]
) -> dict[str, object]:
    """A technician's status tap sent over their open socket: stored, audited as an event, and
    broadcast like any other change."""
    status = message.get("status")
    if actor.role != "technician" or actor.technician_id is None:
        return {"type": "error", "error": "role_not_allowed", "message": "only technicians"}
    if status not in ("available", "break", "off_duty"):
        return {"type": "error", "error": "invalid_input", "message": "unknown status"}
    app = websocket.app
    async with app.state.sessionmaker() as session:
        await set_status(session, actor.technician_id, str(status), at=app.state.clock())
        await session.commit()
        events = take_committed(session)
        await app.state.broadcaster.publish(events)
        await refresh(session, app.state.state_cache)
    return {"type": "ack", "status": status}


def _as_json(frame: bytes) -> str:
    """An SSE frame's event as one JSON message: ``{"type", "id", ...}``."""
    fields = dict(
        line.split(": ", 1) for line in frame.decode().strip().split("\n") if ": " in line
    )
    data = json.loads(fields.get("data", "{}"))
    return json.dumps({"type": fields.get("event"), "id": int(fields.get("id", 0)), **data})
