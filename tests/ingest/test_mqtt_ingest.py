"""Device reports through the real Mosquitto broker into the running app."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import uuid4

import aiomqtt
import pytest

from tests.conftest import T0, Env
from tests.events.live import serving
from tests.ingest.test_mqtt import MQTT_HOST, MQTT_PORT, broker  # noqa: F401 (fixture)

pytestmark = pytest.mark.anyio


async def until(env: Env, sql: str, want: int, seconds: float = 5.0) -> list[Any]:
    async with asyncio.timeout(seconds):
        while len(rows := await env.sql(sql)) < want:
            await asyncio.sleep(0.05)
    return rows


async def test_a_van_reporting_over_mqtt_moves_its_technician(env: Env, broker: str) -> None:  # noqa: F811
    prefix = f"rbtest/{uuid4().hex}"
    env.settings.mqtt_url = broker
    env.settings.mqtt_topic = f"{prefix}/+/events"
    tech1, tech2 = env.cast.tech1_id, env.cast.tech2_id
    fix = {"event_id": "van-1", "kind": "location", "lat": 33.05, "lon": -96.75,
           "recorded_at": T0.isoformat(), "source": "gps"}  # fmt: skip
    async with serving(env.app), aiomqtt.Client(MQTT_HOST, MQTT_PORT) as mqtt:
        async with asyncio.timeout(5):
            while True:  # the app subscribes during startup; wait until it has
                await mqtt.publish(f"{prefix}/{tech1}/events", json.dumps(fix), qos=1)
                if await env.sql("SELECT 1 FROM availability_events"):
                    break
                await asyncio.sleep(0.1)
        # Another technician's report on this van's topic, and a payload that is not JSON.
        stray = {**fix, "event_id": "van-2", "technician_id": tech2}
        await mqtt.publish(f"{prefix}/{tech1}/events", json.dumps(stray), qos=1)
        await mqtt.publish(f"{prefix}/{tech1}/events", b"{not json", qos=1)
        dead = await until(env, "SELECT reason FROM rejected_reports ORDER BY id", 2)
    assert [r[0] for r in dead] == ["technician_scope", "invalid"]
    rows = await env.sql("SELECT technician_id, source, lat FROM availability_events")
    assert rows == [(tech1, "mqtt", 33.05)]
    r = await env.client.get("/api/v1/availability", headers=env.h("dispatcher"))
    mine = next(t for t in r.json() if t["technician_id"] == tech1)
    assert mine["position"]["lat"] == 33.05


async def test_a_position_published_to_mosquitto_reaches_a_boards_stream(
    env: Env,
    broker: str,  # noqa: F811
) -> None:
    import httpx

    from tests.events.live import sse

    prefix = f"rbtest/{uuid4().hex}"
    env.settings.mqtt_url = broker
    env.settings.mqtt_topic = f"{prefix}/+/events"
    topic = f"{prefix}/{env.cast.tech1_id}/events"
    async with (
        serving(env.app) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
        sse(client, "/api/v1/stream", env.h("dispatcher")) as board,
        aiomqtt.Client(MQTT_HOST, MQTT_PORT) as mqtt,
    ):
        await board.next()  # snapshot
        n = 0
        async with asyncio.timeout(5):
            while True:  # until the app's subscription is up
                n += 1
                fix = {"event_id": f"p{n}", "kind": "location", "lat": 33.0 + n / 1000,
                       "lon": -96.7, "recorded_at": T0.isoformat(), "source": "gps"}  # fmt: skip
                await mqtt.publish(topic, json.dumps(fix), qos=1)
                try:
                    msg = await board.next(timeout=0.3)
                except TimeoutError:
                    continue
                break
    assert msg.event == "technician.location"
    assert (msg.data["technician_id"], msg.data["lon"]) == (env.cast.tech1_id, -96.7)


async def test_an_oversized_mqtt_batch_is_a_dead_letter_not_cut_short(env: Env) -> None:
    from routeboard.ingest.service import ingest_mqtt_message

    fix = {"kind": "heartbeat", "recorded_at": T0.isoformat(), "source": "app"}
    batch = [{**fix, "event_id": f"b{i}"} for i in range(1001)]
    answer = await ingest_mqtt_message(
        env.app.state.sessionmaker, env.app.state.broadcaster,
        f"routeboard/technicians/{env.cast.tech1_id}/events", json.dumps(batch).encode(),
        pattern="routeboard/technicians/+/events", now=env.clock(),
    )  # fmt: skip
    assert answer is None
    assert await env.sql("SELECT reason FROM rejected_reports") == [("invalid",)]
    assert await env.sql("SELECT count(*) FROM availability_events") == [(0,)]
