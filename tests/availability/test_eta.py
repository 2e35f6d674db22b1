"""ETAs from positions while en route: rate-limited, on the customer's stream, late alerts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Env
from tests.events.live import serving, sse
from tests.flows import START, act, to_state

pytestmark = pytest.mark.anyio
SITE = (33.1, -96.8)
MCKINNEY = (33.1972, -96.6398)  # ~19 km from the site as the crow flies


async def fix(env: Env, tag: str, at: datetime, where: tuple[float, float] = MCKINNEY) -> None:
    item = {"event_id": tag, "technician_id": env.cast.tech1_id, "kind": "location",
            "lat": where[0], "lon": where[1], "recorded_at": at.isoformat(),
            "source": "gps"}  # fmt: skip
    r = await env.client.post(
        "/api/v1/ingest/events", json={"events": [item]}, headers=env.h("device")
    )
    assert r.json()["accepted"] == 1, r.text


async def events(env: Env, kind: str) -> list[dict[str, Any]]:
    rows = await env.sql("SELECT payload FROM events WHERE type = :t ORDER BY id", t=kind)
    return [p if isinstance(p, dict) else json.loads(p) for (p,) in rows]


async def test_an_eta_per_interval_reaches_the_customer_and_a_miss_raises_one_alert(
    env: Env,
) -> None:
    jid = await to_state(env, "scheduled", start=START)
    assert (await act(env, jid, "start_travel")).status_code == 200
    env.clock.now = START  # reports may not be stamped ahead of the server's clock
    early = START - timedelta(hours=2)
    async with serving(env.app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with sse(client, "/api/v1/stream", env.h("customer"), job_id=str(jid)) as s:
            await s.next()  # snapshot
            await fix(env, "a", early)
            msg = await s.next()
            while msg.event != "job.eta":
                msg = await s.next()
            eta = datetime.fromisoformat(msg.data["eta"])
            assert timedelta(minutes=15) < eta - early < timedelta(minutes=60)
            assert msg.data["late_minutes"] == 0
            assert msg.data["technician_id"] == env.cast.tech1_id  # their own stream gets it too
    await fix(env, "b", early + timedelta(seconds=10))  # within the interval: no new estimate
    assert len(await events(env, "job.eta")) == 1
    # Ten minutes before the start, still in McKinney: projected late, one alert.
    await fix(env, "c", START - timedelta(minutes=10))
    await fix(env, "d", START - timedelta(minutes=9))
    raised = await events(env, "alert.raised")
    assert [(a["kind"], a["job_id"]) for a in raised] == [("projected_late", jid)]
    assert "min past its promised time" in raised[0]["message"]
    # Almost there: back on time, the alert clears.
    near = (SITE[0] + 0.005, SITE[1])
    await fix(env, "e", START - timedelta(minutes=8), near)
    assert [a["job_id"] for a in await events(env, "alert.cleared")] == [jid]
    r = await env.client.get(f"/api/v1/jobs/{jid}", headers=env.h("dispatcher"))
    assert r.status_code == 200
