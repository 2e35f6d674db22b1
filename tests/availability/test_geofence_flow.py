"""Positions through the ingest API drive arrivals: at the job site while en route, at the shop."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import Env
from tests.flows import act, to_state

pytestmark = pytest.mark.anyio
SITE = (33.1, -96.8)  # every test job's site (tests.flows.job_body)
SHOP = (33.0198, -96.6989)
METRE = 1 / 111_320  # degrees of latitude


async def fixes(env: Env, where: tuple[float, float], seconds: list[int], tag: str) -> None:
    at = env.clock()
    batch = [
        {"event_id": f"{tag}{s}", "technician_id": env.cast.tech1_id, "kind": "location",
         "lat": where[0], "lon": where[1], "accuracy_m": 10,
         "recorded_at": (at + timedelta(seconds=s)).isoformat(), "source": "gps"}
        for s in seconds
    ]  # fmt: skip
    r = await env.client.post(
        "/api/v1/ingest/events", json={"events": batch}, headers=env.h("device")
    )
    assert r.json()["accepted"] == len(seconds), r.text


async def state(env: Env) -> str:
    r = await env.client.get("/api/v1/availability", headers=env.h("dispatcher"))
    return str(next(t for t in r.json() if t["technician_id"] == env.cast.tech1_id)["status"])


async def geofence_events(env: Env) -> list[dict[str, Any]]:
    rows = await env.sql("SELECT payload FROM events WHERE type = 'technician.geofence'")
    return [p if isinstance(p, dict) else json.loads(p) for (p,) in rows]


async def test_arriving_at_the_site_while_en_route_is_on_site_after_the_dwell(env: Env) -> None:
    jid = await to_state(env, "scheduled")
    assert (await act(env, jid, "start_travel")).status_code == 200
    assert await state(env) == "en_route"
    # Parked at the kerb 160 m out (beyond r = 150 m): nothing, however long.
    await fixes(env, (SITE[0] + 160 * METRE, SITE[1]), [0, 60, 120], "kerb")
    assert await state(env) == "en_route"
    # Inside for 30 s is not yet an arrival; 70 s is.
    await fixes(env, (SITE[0] + 20 * METRE, SITE[1]), [130, 160], "in")
    assert await state(env) == "en_route"
    await fixes(env, (SITE[0] + 20 * METRE, SITE[1]), [200], "in")
    assert await state(env) == "on_site"
    [event] = await geofence_events(env)
    assert (event["transition"], event["place"], event["place_id"]) == ("arrive", "job", jid)
    assert event["job_id"] == jid  # the dispatcher's board and the job's stream get it


async def test_back_at_the_shop_with_no_job_is_available(env: Env) -> None:
    site = {"address": "Plano shop", "lat": SHOP[0], "lon": SHOP[1]}
    r = await env.client.post(
        "/api/v1/branches", json={"name": "Plano", "site": site}, headers=env.h("admin")
    )
    await env.client.patch(
        f"/api/v1/technicians/{env.cast.tech1_id}",
        json={"branch_id": r.json()["id"]},
        headers=env.h("admin"),
    )
    await env.client.post(
        f"/api/v1/technicians/{env.cast.tech1_id}/status",
        json={"status": "break"},
        headers=env.h("tech1"),
    )
    await fixes(env, SHOP, [0, 30, 61], "shop")
    assert await state(env) == "available"
    assert [e["place"] for e in await geofence_events(env)] == ["branch"]


async def test_a_track_zigzagging_across_the_shop_boundary_arrives_once_and_departs_once(
    env: Env,
) -> None:
    """Every 5 s the fix hops between 140 m and 170 m from the shop (r = 150 m) for ten
    minutes, settles inside, then drives away: one arrival, one departure."""
    site = {"address": "Plano shop", "lat": SHOP[0], "lon": SHOP[1]}
    r = await env.client.post(
        "/api/v1/branches", json={"name": "Plano", "site": site}, headers=env.h("admin")
    )
    branch = r.json()["id"]
    await env.client.patch(
        f"/api/v1/technicians/{env.cast.tech1_id}",
        json={"branch_id": branch},
        headers=env.h("admin"),
    )
    env.clock.advance(hours=1)
    start = -3600
    zig = [(start + 5 * i, (140 if i % 2 else 170) * METRE) for i in range(120)]
    settle = [(start + 600 + 5 * i, 20 * METRE) for i in range(20)]
    away = [(start + 700 + 10 * i, (400 + 50 * i) * METRE) for i in range(20)]
    for n, (second, north) in enumerate(zig + settle + away):
        await fixes(env, (SHOP[0] + north, SHOP[1]), [second], f"z{n}-")
    moves = [(e["transition"], e["place_id"]) for e in await geofence_events(env)]
    assert moves == [("arrive", branch), ("depart", branch)]
    r = await env.client.get(
        "/api/v1/events",
        params={"type": "technician.geofence", "technician_id": env.cast.tech1_id},
        headers=env.h("dispatcher"),
    )
    assert [i["event"]["transition"] for i in r.json()["items"]] == ["arrive", "depart"]
    assert r.json()["next_after_id"] is None
