"""First boot of several instances on one new, empty database: every one comes up.

A compose file or an orchestrator starts all its instances at once; each runs the migrations on
start. Real `routeboard serve` processes on a PostgreSQL database made for this test alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from routeboard.db import make_engine
from tests.conftest import JWT_KEY, PG_HOST, PG_PORT, REQUIRE_SERVICES, _pg_reachable
from tests.events.live import free_port, wait_ready

pytestmark = pytest.mark.anyio
INSTANCES = 3


def _admin() -> AsyncEngine:
    return make_engine(
        f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/test", isolation_level="AUTOCOMMIT"
    )


@pytest.fixture
async def empty_database() -> AsyncIterator[str]:
    """A PostgreSQL database with nothing in it, dropped afterwards."""
    if not _pg_reachable():
        reason = f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT}"
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} and ROUTEBOARD_REQUIRE_SERVICES=1")
        pytest.skip(reason)
    name = f"routeboard_boot_{uuid4().hex[:12]}"
    admin = _admin()
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@contextmanager
def started(database_url: str, data_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A `routeboard serve` process, started and not yet waited for."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEBOARD_")}
    env |= {
        "ROUTEBOARD_DATABASE_URL": database_url,
        "ROUTEBOARD_JWT_SECRET": JWT_KEY,
        "ROUTEBOARD_DATA_DIR": str(data_dir),
    }
    cmd = [sys.executable, "-m", "routeboard.cli", "serve", "--port", str(port)]
    with subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            yield f"http://127.0.0.1:{port}", proc
        finally:
            proc.terminate()
            proc.wait(timeout=10)


async def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            return {r[0] for r in rows}
    finally:
        await engine.dispose()


async def test_instances_started_together_on_an_empty_database_all_come_up(
    empty_database: str, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        servers = [
            stack.enter_context(started(empty_database, tmp_path / f"i{n}"))
            for n in range(INSTANCES)
        ]
        for base, proc in servers:
            wait_ready(base, proc, seconds=60)
        assert all(proc.poll() is None for _, proc in servers)
    tables = await _tables(empty_database)
    assert {"alembic_version", "jobs", "events"} <= tables


async def test_an_instance_on_a_current_schema_starts_without_waiting(
    empty_database: str, tmp_path: Path
) -> None:
    """The lock is taken only to migrate: an instance that finds the schema current does not
    queue behind one that holds it (here, a session holding the lock the whole time)."""
    from routeboard.migrate import ADVISORY_LOCK_KEY, upgrade

    engine = make_engine(empty_database)
    await upgrade(engine)
    try:
        async with engine.connect() as holder:
            await holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
            with started(empty_database, tmp_path / "late") as (base, proc):
                wait_ready(base, proc, seconds=30)
            await holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
    finally:
        await engine.dispose()
