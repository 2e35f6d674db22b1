"""The Routeboard application as bench/stream.py runs it: ``uvicorn --factory stream_server:app``.

Settings come from the environment (``ROUTEBOARD_*``) like any deployment. Two bench-only
additions live here, never in src: a SQLAlchemy ``after_commit`` hook that stamps the wall-clock
instant each event's transaction committed, a wrapper recording the order in which events reach
``Hub.deliver``, and ``GET /_bench/stats`` that hands both and the hub's counters to the
benchmark between runs (never while a run is being measured).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncGenerator, Sequence
from contextlib import suppress
from typing import Any, cast

from fastapi import FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from routeboard.app import create_app
from routeboard.clock import system_clock
from routeboard.config import Settings
from routeboard.deps import Actor, get_session
from routeboard.events.hub import Hub
from routeboard.events.schemas import EventRead
from routeboard.events.service import _PENDING
from routeboard.jobs.schemas import JobUpdate, Site
from routeboard.jobs.service import update_job


def app() -> FastAPI:
    application = create_app(Settings())
    hub: Hub = application.state.hub
    committed: dict[int, float] = {}

    def stamp(session: Session) -> None:
        rows = session.info.get(_PENDING)
        if rows:
            now = time.time()
            for row, _ in rows:
                committed[row.id] = now

    event.listen(Session, "after_commit", stamp)

    # The order in which committed events reach the hub (to spot ids handed over out of order).
    handed: list[int] = []
    deliver = hub.deliver

    def recording(events: Sequence[EventRead]) -> None:
        handed.extend(e.id for e in events)
        deliver(events)

    hub.deliver = recording  # type: ignore[method-assign]

    async def stats() -> dict[str, Any]:
        return {
            "commits": committed,
            "handed": handed,
            "encodings": hub.encodings,
            "subscribers": len(hub.subscribers),
        }

    async def burst(plan: Burst) -> dict[str, Any]:
        return await run_burst(application, plan)

    application.add_api_route("/_bench/stats", stats, methods=["GET"], include_in_schema=False)
    application.add_api_route("/_bench/burst", burst, methods=["POST"], include_in_schema=False)
    return application


class Burst(BaseModel):
    """Events made in the server by the real service call and the request's commit path."""

    user_id: int
    jobs: list[int]
    rate: float
    seconds: float


async def run_burst(application: FastAPI, plan: Burst) -> dict[str, Any]:
    """``jobs.service.update_job`` at ``plan.rate`` from one task per job, each committed and
    published by ``deps.get_session`` exactly as for a request: only HTTP and auth are skipped."""
    request = Request({"type": "http", "app": application, "headers": [], "query_string": b""})
    planner = application.state.planner
    total = int(plan.rate * plan.seconds)
    start = time.perf_counter() + 0.05
    sent: list[float] = []
    took: list[float] = []
    statuses: Counter[str] = Counter()  # 200, or the exception that refused the event
    next_index = 0

    async def worker(job_id: int) -> None:
        nonlocal next_index
        while next_index < total:
            n = next_index
            next_index += 1
            delay = start + n / plan.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            stamp = time.time()
            actor = Actor(
                plan.user_id, "bench", "dispatcher", None, None, None, "burst", system_clock()
            )
            body = JobUpdate(site=Site(address=f"@ts={stamp:.6f};seq={n};", lat=33.0, lon=-96.7))
            sessions = cast(AsyncGenerator[AsyncSession, None], get_session(request))
            session = await anext(sessions)
            try:
                await update_job(session, job_id, body, actor=actor, planner=planner)
            except Exception as exc:
                with suppress(Exception):
                    await sessions.athrow(exc)  # roll back, as for a failed request
                statuses[type(exc).__name__] += 1
                continue
            try:
                await anext(sessions)  # commit, then publish
            except StopAsyncIteration:
                statuses["200"] += 1
                sent.append(stamp)
                took.append(time.time() - stamp)
            except Exception as exc:
                statuses[type(exc).__name__] += 1

    await asyncio.gather(*(worker(j) for j in plan.jobs))
    took.sort()
    return {
        "planned": total,
        "sent": len(sent),
        "statuses": dict(statuses),
        "first": min(sent, default=0.0),
        "last": max(sent, default=0.0),
        "request_p50": took[len(took) // 2] if took else 0.0,
        "request_p99": took[int(len(took) * 0.99)] if took else 0.0,
    }
