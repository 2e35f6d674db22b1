"""The latest-state cache: what GET /availability answers, kept in memory or in Redis.

The Redis tests use the real server on 127.0.0.1:6379: skipped when it is unreachable, unless
ROUTEBOARD_REQUIRE_SERVICES=1, where that fails.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from routeboard.app import create_app
from routeboard.availability.cache import (
    MemoryStateCache,
    RedisStateCache,
    StateCache,
    cache_prefix,
)
from routeboard.availability.schemas import TechnicianStatusRead
from routeboard.config import Settings
from tests.conftest import JWT_KEY, REQUIRE_SERVICES, Env
from tests.flows import START, act, to_state

pytestmark = pytest.mark.anyio
REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_up() -> None:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        if REQUIRE_SERVICES:
            pytest.fail(
                "Redis is not reachable at 127.0.0.1:6379 and ROUTEBOARD_REQUIRE_SERVICES=1"
            )
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")


def state(status: str, technician_id: int = 7) -> TechnicianStatusRead:
    return TechnicianStatusRead(
        technician_id=technician_id, name="Ana", status=status, since=None, last_seen_at=None
    )


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[StateCache]:
    if request.param == "memory":
        yield MemoryStateCache(60)
        return
    _redis_up()
    redis = RedisStateCache(REDIS_URL, 60, prefix="routeboard:test-cache:")
    await redis.redis.delete(redis.key(7))
    yield redis
    await redis.redis.delete(redis.key(7))
    await redis.close()


async def test_an_older_copy_never_replaces_a_newer_one(cache: StateCache) -> None:
    await cache.put_many([(5, state("en_route"))])
    await cache.put_many([(4, state("available"))])  # a slower refresh of an earlier commit
    assert (await cache.get_many([7, 8]))[7].status == "en_route"
    await cache.put_many([(6, state("on_site"))])
    assert (await cache.get_many([7]))[7].status == "on_site"
    assert 8 not in await cache.get_many([7, 8])


async def test_copies_expire() -> None:
    now = [0.0]
    cache = MemoryStateCache(60, clock=lambda: now[0])
    await cache.put_many([(5, state("working"))])
    now[0] = 61
    assert await cache.get_many([7]) == {}
    await cache.put_many([(1, state("available"))])  # an expired copy is no newer than anything
    assert (await cache.get_many([7]))[7].status == "available"


async def test_a_redis_copy_is_one_hash_with_a_ttl(cache: StateCache) -> None:
    if not isinstance(cache, RedisStateCache):
        return  # the memory twin has no hash to look at
    redis_cache = cache
    await redis_cache.put_many([(5, state("break"))])
    raw = await redis_cache.redis.hgetall(redis_cache.key(7))
    assert raw[b"version"] == b"5"
    assert TechnicianStatusRead.model_validate_json(raw[b"state"]).status == "break"
    assert 0 < await redis_cache.redis.ttl(redis_cache.key(7)) <= 60


async def availability(env: Env, client: httpx.AsyncClient | None = None) -> dict[int, Any]:
    r = await (client or env.client).get("/api/v1/availability", headers=env.h("dispatcher"))
    assert r.status_code == 200, r.text
    return {t["technician_id"]: t for t in r.json()}


async def test_the_answer_names_the_current_job_its_eta_and_staleness(env: Env) -> None:
    jid = await to_state(env, "scheduled", start=START)
    env.clock.now = START - timedelta(minutes=50)
    assert (await act(env, jid, "start_travel")).status_code == 200
    mine = (await availability(env))[env.cast.tech1_id]
    assert (mine["status"], mine["current_job_id"], mine["stale"]) == ("en_route", jid, False)
    assert mine["eta"] is None  # no position yet
    item = {"event_id": "p1", "technician_id": env.cast.tech1_id, "kind": "location",
            "lat": 33.1972, "lon": -96.6398, "recorded_at": env.clock().isoformat(),
            "source": "gps"}  # fmt: skip
    r = await env.client.post(
        "/api/v1/ingest/events", json={"events": [item]}, headers=env.h("device")
    )
    assert r.json()["accepted"] == 1
    mine = (await availability(env))[env.cast.tech1_id]
    assert mine["eta"] is not None and datetime.fromisoformat(mine["eta"]) > env.clock()
    assert mine["position"]["lat"] == 33.1972
    # Heard from nothing since: stale once the TTL has passed, though the copy is unchanged.
    env.clock.advance(minutes=6)
    assert (await availability(env))[env.cast.tech1_id]["stale"] is True
    # The job cancelled (no status tap): the cached copy loses it.
    r = await env.client.post(
        f"/api/v1/jobs/{jid}/transitions",
        json={"action": "cancel", "reason": "customer away"},
        headers=env.h("dispatcher"),
    )
    assert r.status_code == 200, r.text
    assert (await availability(env))[env.cast.tech1_id]["current_job_id"] is None


async def test_each_change_rewrites_the_cached_copy(env: Env) -> None:
    cache: MemoryStateCache = env.app.state.state_cache
    await availability(env)  # a read fills the cache from the database
    assert cache.entries[env.cast.tech2_id][2].status == "unknown"
    r = await env.client.post(
        f"/api/v1/technicians/{env.cast.tech2_id}/status",
        json={"status": "break"},
        headers=env.h("tech2"),
    )
    assert r.status_code == 200, r.text
    assert cache.entries[env.cast.tech2_id][2].status == "break"  # written after the commit
    assert (await availability(env))[env.cast.tech2_id]["status"] == "break"


async def test_instances_share_one_redis_copy(env: Env, tmp_path: Any) -> None:
    """Two apps on one database and one Redis: a change through one is what the other answers,
    though the other had cached the earlier state."""
    _redis_up()
    url = env.settings.effective_database_url
    redis = Redis.from_url(REDIS_URL)
    async for key in redis.scan_iter(f"{cache_prefix(url)}*"):
        await redis.delete(key)  # an earlier test's database had the same name
    await redis.aclose()
    apps = [
        create_app(
            Settings(
                database_url=url, data_dir=tmp_path / n, jwt_secret=JWT_KEY, redis_url=REDIS_URL
            ),
            clock=env.clock,
        )
        for n in ("a", "b")
    ]
    a, b = (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=x), base_url="http://t") for x in apps
    )
    try:
        assert (await availability(env, b))[env.cast.tech1_id]["status"] == "unknown"
        r = await a.post(
            f"/api/v1/technicians/{env.cast.tech1_id}/status",
            json={"status": "off_duty"},
            headers=env.h("dispatcher"),
        )
        assert r.status_code == 200, r.text
        assert (await availability(env, b))[env.cast.tech1_id]["status"] == "off_duty"
    finally:
        for client, app in zip((a, b), apps, strict=True):
            await client.aclose()
            await app.state.state_cache.close()
            await app.state.broadcaster.close()
            await app.state.engine.dispose()
