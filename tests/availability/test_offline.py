"""A technician whose devices go quiet becomes offline once, and comes back with the data."""

from __future__ import annotations

from datetime import timedelta

import pytest

from routeboard.app import sweep_offline
from tests.conftest import Env

pytestmark = pytest.mark.anyio
TTL = timedelta(minutes=5)


async def heartbeat(env: Env, event_id: str) -> None:
    item = {"event_id": event_id, "technician_id": env.cast.tech1_id, "kind": "heartbeat",
            "recorded_at": env.clock().isoformat(), "source": "app"}  # fmt: skip
    r = await env.client.post(
        "/api/v1/ingest/events", json={"events": [item]}, headers=env.h("device")
    )
    assert r.json()["accepted"] == 1


async def sweep(env: Env) -> list[int]:
    return await sweep_offline(env.app)


async def status_events(env: Env) -> list[str]:
    rows = await env.sql("SELECT payload FROM events WHERE type = 'technician.status' ORDER BY id")
    import json

    return [(p if isinstance(p, dict) else json.loads(p))["status"] for (p,) in rows]


async def test_quiet_for_the_ttl_is_offline_once_then_back_with_the_next_report(env: Env) -> None:
    r = await env.client.post(
        f"/api/v1/technicians/{env.cast.tech1_id}/status",
        json={"status": "available"},
        headers=env.h("tech1"),
    )
    assert r.status_code == 200
    await heartbeat(env, "h1")
    env.clock.advance(minutes=4)
    assert await sweep(env) == []
    env.clock.advance(minutes=2)
    assert await sweep(env) == [env.cast.tech1_id]
    env.clock.advance(minutes=10)
    assert await sweep(env) == []  # one event, not a flood
    r = await env.client.get("/api/v1/availability", headers=env.h("dispatcher"))
    mine = next(t for t in r.json() if t["technician_id"] == env.cast.tech1_id)
    assert mine["status"] == "offline"
    await heartbeat(env, "h2")
    assert await status_events(env) == ["available", "offline", "available"]
