"""A 20-second Redis outage under two instances: every board still gets every event, in order,
once, on the connection it already had.

A Redis of the drill's own is stopped and started; both instances share one PostgreSQL database
made for the drill. Changes keep coming through both instances all along.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from routeboard.app import create_app
from routeboard.config import Settings
from routeboard.db import make_engine
from routeboard.migrate import upgrade
from tests.conftest import JWT_KEY, Clock, _seed_cast
from tests.events.live import SSE, serving, sse
from tests.faults.servers import Redis, running
from tests.flows import job_body
from tests.scaleout.test_first_boot import empty_database  # noqa: F401 (fixture)

pytestmark = pytest.mark.anyio
OUTAGE_SECONDS = 20.0


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Redis]:
    with running(Redis(tmp_path / "redis")) as server:
        yield server


async def _event_ids(url: str, job_id: int, after: int) -> list[int]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT id FROM events WHERE job_id = :j AND id > :a ORDER BY id"),
                {"j": job_id, "a": after},
            )
            return [r[0] for r in rows]
    finally:
        await engine.dispose()


async def _read(stream: SSE, into: list[int]) -> None:
    while True:
        message = await stream.next(timeout=60)
        if message.id is not None and message.event != "snapshot":
            into.append(message.id)


async def test_every_board_gets_every_event_across_a_redis_outage(
    redis: Redis,
    empty_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    url = empty_database
    engine = make_engine(url)
    await upgrade(engine)
    cast = await _seed_cast(engine, JWT_KEY)
    await engine.dispose()
    headers = cast.headers["dispatcher"]

    def settings(name: str) -> Settings:
        return Settings(
            data_dir=tmp_path / name, database_url=url, redis_url=redis.url, jwt_secret=JWT_KEY,
            notify_worker=False,
        )  # fmt: skip

    apps = [create_app(settings("a"), clock=Clock()), create_app(settings("b"), clock=Clock())]
    async with AsyncExitStack() as stack:
        bases = [await stack.enter_async_context(serving(app)) for app in apps]
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=b, timeout=10))
            for b in bases
        ]
        r = await clients[0].post("/api/v1/jobs", json=job_body(cast.customer_id), headers=headers)
        assert r.status_code == 201, r.text
        jid = r.json()["id"]

        boards: list[list[int]] = [[], []]
        streams = [
            await stack.enter_async_context(sse(c, "/api/v1/stream", headers, job_id=jid))
            for c in clients
        ]
        opened = []
        for stream in streams:
            snapshot = await stream.next()
            assert snapshot.event == "snapshot"
            opened.append(int(snapshot.data["last_event_id"]))
        readers = [asyncio.create_task(_read(s, b)) for s, b in zip(streams, boards, strict=True)]

        written = 0
        degraded: set[int] = set()

        async def write(stop: asyncio.Event) -> None:
            nonlocal written
            n = 0
            while not stop.is_set():
                client = clients[n % 2]
                r = await client.patch(
                    f"/api/v1/jobs/{jid}", json={"notes": f"call {n}"}, headers=headers
                )
                assert r.status_code == 200, r.text
                written += 1
                n += 1
                await asyncio.sleep(0.05)

        stop = asyncio.Event()
        writer = asyncio.create_task(write(stop))
        await asyncio.sleep(2)
        redis.stop()
        deadline = asyncio.get_running_loop().time() + OUTAGE_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            for i, client in enumerate(clients):
                ready = (await client.get("/readyz")).json()
                if ready["status"] == "degraded":
                    degraded.add(i)
            await asyncio.sleep(1)
        redis.start()
        async with asyncio.timeout(15):
            while not all(app.state.broadcaster.up for app in apps):
                await asyncio.sleep(0.1)
        await asyncio.sleep(2)  # changes travel by Redis again
        stop.set()
        await writer

        wanted = await _event_ids(url, jid, min(opened))
        async with asyncio.timeout(15):
            while any(len(board) < len(wanted) for board in boards):
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # room for a duplicate, if one were coming
        for reader in readers:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    assert written > 300
    assert len(wanted) == written
    assert degraded == {0, 1}, "both instances said they were degraded"
    for board in boards:
        # Every event, in id order, once, without a reload or a reconnect.
        assert board == wanted
