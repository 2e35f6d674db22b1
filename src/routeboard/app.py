"""The ASGI application: settings in, routers, middleware, error handlers and lifespan out."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import anyio
import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from routeboard import __version__
from routeboard.access import PERMISSIONS
from routeboard.apikeys.routes import router as apikeys_router
from routeboard.audit.routes import router as audit_router
from routeboard.auth.routes import router as auth_router
from routeboard.auth.throttle import SlidingWindow
from routeboard.availability.cache import (
    MemoryStateCache,
    RedisStateCache,
    cache_prefix,
    refresh,
)
from routeboard.availability.routes import router as availability_router
from routeboard.availability.service import AvailabilityRules, freshness, mark_offline
from routeboard.branches.routes import router as branches_router
from routeboard.clock import Clock, system_clock
from routeboard.config import Settings
from routeboard.customers.routes import router as customers_router
from routeboard.db import is_outage, make_engine, make_sessionmaker
from routeboard.documents.routes import router as documents_router
from routeboard.errors import ERROR_RESPONSES, install_handlers
from routeboard.events.hub import Hub
from routeboard.events.routes import HANDOFF, EventStreamResponse
from routeboard.events.routes import router as events_router
from routeboard.events.service import (
    InProcessBroadcaster,
    RedisBroadcaster,
    prune_events,
    take_committed,
)
from routeboard.feedback.routes import router as feedback_router
from routeboard.health.routes import router as health_router
from routeboard.idempotency import prune_answers
from routeboard.ingest.mqtt import MqttSubscriber
from routeboard.ingest.routes import router as ingest_router
from routeboard.ingest.service import dead_letter_mqtt, ingest_mqtt_message
from routeboard.invoices.routes import router as invoices_router
from routeboard.jobs.routes import router as jobs_router
from routeboard.metrics.routes import router as metrics_router
from routeboard.metrics.service import FRESH, OFFLINE_TECHNICIANS
from routeboard.notify.channels import channels_from_settings
from routeboard.notify.routes import router as notify_router
from routeboard.notify.service import Worker, notify_running_late
from routeboard.payments.routes import router as payments_router
from routeboard.payments.service import make_provider
from routeboard.photos.routes import router as photos_router
from routeboard.quotes.routes import router as quotes_router
from routeboard.schedule.routes import router as schedule_router
from routeboard.schedule.service import Planner
from routeboard.security import BodyLimit, RefuseNul, SecurityHeaders
from routeboard.tech.routes import router as tech_router
from routeboard.technicians.routes import router as technicians_router
from routeboard.tracking.routes import router as tracking_router
from routeboard.travel.service import make_travel
from routeboard.users.routes import router as users_router
from routeboard.web.routes import router as web_router

STATIC = Path(__file__).parent / "web" / "static"
log = logging.getLogger(__name__)

ROUTERS = (
    health_router,
    metrics_router,
    auth_router,
    users_router,
    apikeys_router,
    technicians_router,
    branches_router,
    ingest_router,
    customers_router,
    jobs_router,
    quotes_router,
    photos_router,
    invoices_router,
    payments_router,
    documents_router,
    audit_router,
    schedule_router,
    availability_router,
    tech_router,
    notify_router,
    feedback_router,
    events_router,
    tracking_router,
    web_router,
)


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute | APIWebSocketRoute]:
    for route in routes:
        if isinstance(route, APIRoute | APIWebSocketRoute):
            yield route
        # Newer FastAPI keeps included routers as branches rather than copying their routes.
        elif (inner := getattr(route, "original_router", None)) is not None:
            yield from _api_routes(inner.routes)


def route_keys(app: FastAPI) -> set[str]:
    """Every "METHOD /path" (and "WS /path") the application serves, documentation excluded."""
    keys: set[str] = set()
    for route in _api_routes(app.routes):
        if isinstance(route, APIWebSocketRoute):
            keys.add(f"WS {route.path}")
        else:
            keys |= {f"{method} {route.path}" for method in route.methods or ()}
    return keys


async def sweep_offline(app: FastAPI) -> list[int]:
    """Mark technicians gone quiet as offline and update the completeness gauges; returns who
    went offline."""
    ttl: timedelta = app.state.settings.availability_ttl
    async with app.state.sessionmaker() as session:
        now = app.state.clock()
        gone = await mark_offline(session, now=now, ttl=ttl)
        await session.commit()
        events = take_committed(session)
        if events:
            await app.state.broadcaster.publish(events)
        await refresh(session, app.state.state_cache)
        total, fresh, offline = await freshness(session, now=now, ttl=ttl)
    FRESH.set(fresh / total if total else 1.0)
    OFFLINE_TECHNICIANS.set(offline)
    return gone


async def sweep_offline_forever(app: FastAPI) -> None:
    """Sweep a few times per TTL."""
    settings: Settings = app.state.settings
    while True:
        await anyio.sleep(max(settings.availability_ttl_seconds / 5, 1))
        try:
            await sweep_offline(app)
        except Exception:  # the next sweep tries again; a crash here would stop them all
            log.exception("offline sweep failed")


async def prune(app: FastAPI) -> None:
    """Keep the events table to its retention period and forget old idempotency answers."""
    settings: Settings = app.state.settings
    async with app.state.sessionmaker() as session, session.begin():
        now = app.state.clock()
        await prune_events(session, before=now - timedelta(days=settings.event_retention_days))
        await prune_answers(session, now=now)


async def prune_forever(app: FastAPI, every_seconds: float = 3600) -> None:
    """Prune hourly, in the background."""
    while True:
        try:
            await prune(app)
        except Exception:  # the next hour tries again
            log.exception("pruning failed")
        await anyio.sleep(every_seconds)


class Routeboard(FastAPI):
    """FastAPI, plus running a live stream after the framework has answered its request."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        before = set(scope)
        await super().__call__(scope, receive, send)
        stream: EventStreamResponse | None = scope.get(HANDOFF)
        if stream is None:
            return
        # What the framework put in the scope (exit stacks, the route, the request's state) would
        # otherwise live as long as the stream.
        for key in set(scope) - before:
            del scope[key]
        await stream.run(scope, receive, send)


def message_worker(app: FastAPI) -> Worker:
    """Customer messages from the outbox, through the configured channels."""
    settings: Settings = app.state.settings
    return Worker(
        app.state.sessionmaker,
        channels_from_settings(settings.sms_url, settings.email_url),
        settings,
        clock=app.state.clock,
        key=app.state.signing_key,
        publish=app.state.broadcaster.publish,
    )


async def watch_lateness(app: FastAPI) -> list[int]:
    """One pass of the running-late check; returns the jobs whose customers were told."""
    async with app.state.sessionmaker() as session:
        told = await notify_running_late(
            session, planner=app.state.planner, settings=app.state.settings,
            now=app.state.clock(),
        )  # fmt: skip
        await session.commit()
        events = take_committed(session)
    if events:
        await app.state.broadcaster.publish(events)
    return told


async def watch_lateness_forever(app: FastAPI, every_seconds: float = 60) -> None:
    while True:
        await anyio.sleep(every_seconds)
        try:
            await watch_lateness(app)
        except Exception:  # the next pass tries again
            log.exception("running-late check failed")


async def send_messages(app: FastAPI, every_seconds: float = 2.0) -> None:
    """What a message-sending process runs: the outbox worker and the running-late check."""
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(message_worker(app).run, every_seconds)
        tasks.start_soon(watch_lateness_forever, app)


def mqtt_subscriber(app: FastAPI) -> MqttSubscriber:
    """Device reports from the MQTT broker, each message ingested in its own transaction."""
    settings: Settings = app.state.settings
    assert settings.mqtt_url is not None

    async def handle(topic: str, payload: bytes) -> None:
        await ingest_mqtt_message(
            app.state.sessionmaker, app.state.broadcaster, topic, payload,
            cache=app.state.state_cache, pattern=settings.mqtt_topic, now=app.state.clock(),
            rules=AvailabilityRules.of(app),
        )  # fmt: skip

    async def dead_letter(topic: str, payload: bytes, error: Exception) -> None:
        await dead_letter_mqtt(app.state.sessionmaker, topic, payload, error, now=app.state.clock())

    topic = settings.mqtt_topic
    if settings.mqtt_share_group:
        # The broker hands each message to one member of the group: N instances split the load.
        topic = f"$share/{settings.mqtt_share_group}/{topic}"
    return MqttSubscriber(
        settings.mqtt_url, topic, handle, client_id=settings.mqtt_client_id,
        dead_letter=dead_letter, outage=is_outage,
    )  # fmt: skip


def create_app(settings: Settings | None = None, *, clock: Clock = system_clock) -> FastAPI:
    settings = settings or Settings()
    engine = make_engine(settings.effective_database_url)

    http = httpx.AsyncClient(headers={"User-Agent": f"Routeboard/{__version__}"})
    hub = Hub(
        coalesce_seconds=lambda: settings.stream_coalesce_ms / 1000,
        heartbeat_seconds=lambda: settings.stream_heartbeat_seconds,
    )
    sessionmaker = make_sessionmaker(engine)
    broadcaster: InProcessBroadcaster | RedisBroadcaster = (
        RedisBroadcaster(settings.redis_url, hub, sessionmaker)
        if settings.redis_url
        else InProcessBroadcaster(hub, sessionmaker)
    )

    state_cache: MemoryStateCache | RedisStateCache = (
        RedisStateCache(
            settings.redis_url,
            settings.state_cache_ttl_seconds,
            prefix=cache_prefix(settings.effective_database_url),
        )
        if settings.redis_url
        else MemoryStateCache(settings.state_cache_ttl_seconds)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(broadcaster.run)
            tasks.start_soon(hub.run)
            tasks.start_soon(sweep_offline_forever, app)
            if settings.mqtt_url:
                tasks.start_soon(mqtt_subscriber(app).run)
            tasks.start_soon(prune_forever, app)
            if settings.notify_worker:
                tasks.start_soon(send_messages, app)
            # What start-up built lives as long as the process: the collector need not scan it
            # again at every full collection (which busy ingestion triggers every few batches).
            gc.freeze()
            yield
            tasks.cancel_scope.cancel()
        if isinstance(broadcaster, RedisBroadcaster):
            await broadcaster.close()
        await state_cache.close()
        await http.aclose()
        await engine.dispose()

    app = Routeboard(
        title="Routeboard",
        version=__version__,
        description="Dispatch, scheduling and live technician availability for mobile auto glass.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker
    app.state.hub = hub
    app.state.broadcaster = broadcaster
    app.state.state_cache = state_cache
    app.state.signing_key = settings.signing_key()
    app.state.clock = clock
    # Said on the board when the app runs on a day of its own (the demo's).
    app.state.demo_note = None
    app.state.http = http
    app.state.payments = make_provider(settings, http, clock)
    app.state.planner = Planner(travel=make_travel(settings, http, clock), tz=settings.tz)
    app.state.login_window = SlidingWindow(settings.login_attempts_per_minute, 60)
    install_handlers(app)
    for router in ROUTERS:
        app.include_router(router, responses=None if router is health_router else ERROR_RESPONSES)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # A route without a row in the permission matrix is a route nobody decided about.
    unlisted = route_keys(app) - set(PERMISSIONS)
    if unlisted:
        raise RuntimeError(f"routes missing from access.PERMISSIONS: {sorted(unlisted)}")

    app.add_middleware(RefuseNul)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "Last-Event-ID"],
        )
    app.add_middleware(SecurityHeaders)
    return app
