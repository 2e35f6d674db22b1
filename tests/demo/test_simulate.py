"""The demo simulator moves the seeded day forward through the real API."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from routeboard.app import create_app
from routeboard.audit.service import verify_all_chains
from routeboard.config import Settings
from routeboard.demo.service import DemoDay, reset_and_seed
from routeboard.demo.simulate import Simulator
from tests.events.live import serving, sse
from tests.ingest.test_mqtt import broker  # noqa: F401 (fixture)

pytestmark = pytest.mark.anyio
# Sunday 6 December 2026, 23:30 in Dallas: the demo shows Monday.
SUNDAY_NIGHT = datetime(2026, 12, 7, 5, 30, tzinfo=UTC)


async def test_simulated_technicians_tap_through_the_day_and_the_board_sees_it(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, jwt_secret="simulator-test-key-0123456789abcdef012345")
    demo = DemoDay.near(SUNDAY_NIGHT, settings.tz)
    await reset_and_seed(settings, day=demo.day)
    app = create_app(settings, clock=demo.clock)
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        sim = Simulator(client, settings.tz, speed=3000)
        await sim.sign_in()
        # The phones run on the server's day, not the machine's.
        assert sim.day == demo.day == date(2026, 12, 7)
        login = await client.post(
            "/api/v1/auth/token", data={"username": "dispatch", "password": "routeboard-demo"}
        )
        board = {"Authorization": f"Bearer {login.json()['access_token']}"}
        async with sse(client, "/api/v1/stream", board, date=sim.day.isoformat()) as stream:
            assert (await stream.next()).event == "snapshot"
            for _ in range(20):
                await sim.step()
                await sim.report_positions()
                await asyncio.sleep(0.1)
                if sim.taps >= 3:
                    break
            assert sim.taps >= 3
            seen = await stream.next(timeout=3)
            assert seen.event.startswith(("job.", "technician."))
        # Every phone reported its position with its own GPS key; none was refused.
        r = await client.get("/api/v1/availability", headers=board)
        assert all(t["position"] is not None for t in r.json())
        assert len(r.json()) == len(sim.technicians)
    async with app.state.sessionmaker() as session:
        assert all(r.verified for r in await verify_all_chains(session))
        rejected = await session.execute(text("SELECT count(*) FROM rejected_reports"))
        assert rejected.scalar_one() == 0
    await app.state.engine.dispose()


async def test_the_simulated_phones_can_report_through_mosquitto(
    tmp_path: Path,
    broker: str,  # noqa: F811
) -> None:
    from uuid import uuid4

    import aiomqtt

    from routeboard.demo.simulate import MqttGps
    from tests.ingest.test_mqtt import MQTT_HOST, MQTT_PORT

    pattern = f"rbtest/{uuid4().hex}/+/events"
    settings = Settings(
        data_dir=tmp_path,
        jwt_secret="simulator-test-key-0123456789abcdef012345",
        mqtt_url=broker,
        mqtt_topic=pattern,
    )
    demo = DemoDay.near(SUNDAY_NIGHT, settings.tz)
    await reset_and_seed(settings, day=demo.day)
    app = create_app(settings, clock=demo.clock)
    async with (
        serving(app) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
        aiomqtt.Client(MQTT_HOST, MQTT_PORT) as mqtt,
    ):
        sim = Simulator(client, settings.tz, speed=30, gps=MqttGps(mqtt, pattern))
        await sim.sign_in()
        async with asyncio.timeout(10):
            while True:
                await sim.report_positions()
                async with app.state.sessionmaker() as session:
                    rows = await session.execute(
                        text("SELECT count(DISTINCT technician_id) FROM availability_events")
                    )
                    if rows.scalar_one() == len(sim.technicians):
                        break
                await asyncio.sleep(0.2)
        sources = await _sources(app)
    assert sources == {"mqtt"}
    await app.state.engine.dispose()


async def _sources(app: object) -> set[str]:
    async with app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        rows = await session.execute(text("SELECT DISTINCT source FROM availability_events"))
        return {r[0] for r in rows}
