"""MQTT at least once, end to end: what the broker acknowledged reaches the database.

Each drill runs a Mosquitto of its own (and, for the outage, a PostgreSQL of its own) that it
stops and starts, and a real Routeboard on a socket subscribing with a persistent session.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import aiomqtt
import pytest
from sqlalchemy import text

from routeboard.app import create_app
from routeboard.config import Settings
from routeboard.db import make_engine
from routeboard.migrate import upgrade
from tests.conftest import JWT_KEY, Clock, _seed_cast
from tests.events.live import serving
from tests.faults.servers import Mosquitto, Postgres, running

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    with running(Mosquitto(tmp_path / "mqtt")) as broker:
        yield broker


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    # Not under pytest's tmp_path: the postgres user cannot traverse root's 0700 folders.
    folder = Path(tempfile.mkdtemp(prefix="routeboard-drill-pg-"))
    try:
        with running(Postgres(folder)) as server:
            yield server
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def report(n: int, technician_id: int) -> bytes:
    return json.dumps(
        {
            "event_id": f"drill-{n}",
            "kind": "location",
            "lat": 33.0 + n / 100_000,
            "lon": -96.7,
            "recorded_at": (NOW - timedelta(seconds=1)).isoformat(),
            "source": "gps",
            "technician_id": technician_id,
        }
    ).encode()


class Publisher:
    """A tracker fleet's side: counts what the broker acknowledged (PUBACK), and only that."""

    def __init__(self, broker: Mosquitto, topic: str) -> None:
        self.broker = broker
        self.topic = topic
        self.acked: set[str] = set()
        self.next = 0

    async def send(self, count: int, technician_id: int) -> None:
        async with aiomqtt.Client("127.0.0.1", self.broker.port) as client:
            for _ in range(count):
                n, self.next = self.next, self.next + 1
                await client.publish(self.topic, report(n, technician_id), qos=1)
                self.acked.add(f"drill-{n}")

    async def keep_sending(self, technician_id: int, stop: asyncio.Event) -> None:
        """One report every 10 ms until told to stop, riding out the broker going away."""
        while not stop.is_set():
            try:
                async with aiomqtt.Client("127.0.0.1", self.broker.port) as client:
                    while not stop.is_set():
                        n = self.next
                        await client.publish(self.topic, report(n, technician_id), qos=1)
                        self.acked.add(f"drill-{n}")
                        self.next += 1
                        await asyncio.sleep(0.01)
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)


async def stored(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT event_id FROM availability_events"))
            return {r[0] for r in rows}
    finally:
        await engine.dispose()


async def wait_for(url: str, wanted: set[str], seconds: float) -> set[str]:
    got: set[str] = set()
    async with asyncio.timeout(seconds):
        while not wanted <= got:
            with suppress(OSError):
                got = await stored(url)
            await asyncio.sleep(0.2)
    return got


@asynccontextmanager
async def routeboard(database_url: str, broker: Mosquitto, data_dir: Path) -> AsyncIterator[int]:
    """A migrated database with the cast, and the app serving with a persistent MQTT session;
    yields the technician the reports are for."""
    engine = make_engine(database_url)
    await upgrade(engine)
    cast = await _seed_cast(engine, JWT_KEY)
    await engine.dispose()
    settings = Settings(
        data_dir=data_dir, database_url=database_url, jwt_secret=JWT_KEY, notify_worker=False,
        mqtt_url=broker.url, mqtt_client_id=f"routeboard-drill-{uuid4().hex[:8]}",
    )  # fmt: skip
    app = create_app(settings, clock=Clock(NOW))
    async with serving(app):
        yield cast.tech1_id
    await app.state.engine.dispose()


async def test_nothing_the_broker_acknowledged_is_lost_across_a_broker_restart(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'routeboard.sqlite3'}"
    topic_of = "routeboard/technicians/{}/events"
    async with routeboard(url, mosquitto, tmp_path / "data") as tech:
        fleet = Publisher(mosquitto, topic_of.format(tech))
        await fleet.send(100, tech)
        await wait_for(url, fleet.acked, 10)
        mosquitto.stop()
        await asyncio.sleep(1.5)  # the subscriber is backing off, its session in the broker
        mosquitto.start()
        # Published before the subscriber is back: held for its persistent session.
        await fleet.send(200, tech)
        got = await wait_for(url, fleet.acked, 30)
    assert len(fleet.acked) == 300
    assert fleet.acked <= got


async def test_nothing_the_broker_acknowledged_is_lost_while_the_database_is_down(
    mosquitto: Mosquitto, postgres: Postgres, tmp_path: Path
) -> None:
    url = postgres.url
    async with routeboard(url, mosquitto, tmp_path / "data") as tech:
        fleet = Publisher(mosquitto, f"routeboard/technicians/{tech}/events")
        stop = asyncio.Event()
        sending = asyncio.create_task(fleet.keep_sending(tech, stop))
        async with asyncio.timeout(10):
            while len(fleet.acked) < 100:
                await asyncio.sleep(0.05)
        postgres.stop()
        await asyncio.sleep(8)  # reports keep coming, the broker keeps acknowledging them
        during = len(fleet.acked)
        postgres.start()
        await asyncio.sleep(1)
        stop.set()
        await sending
        got = await wait_for(url, fleet.acked, 60)
    assert during > 500, "the fleet kept reporting through the outage"
    assert fleet.acked <= got
