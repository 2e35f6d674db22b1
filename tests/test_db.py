"""SQLite on the event loop: this process's writers take turns, readers never wait."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from routeboard.db import InlineSqlite, make_engine, make_sessionmaker

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)"))
        await conn.execute(text("INSERT INTO counter VALUES (1, 0)"))
    return engine


async def test_the_connection_runs_on_the_event_loop(tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, InlineSqlite)
    await engine.dispose()


async def test_many_concurrent_read_then_write_transactions_all_commit(tmp_path: Path) -> None:
    """Each reads, yields to the others, then writes what it read plus one: with writers taking
    turns none fails with "database is locked" and no increment is lost."""
    engine = await _engine(tmp_path)
    maker = make_sessionmaker(engine)

    async def bump() -> None:
        async with maker() as session:
            await session.execute(text("UPDATE counter SET n = n WHERE id = 1"))  # take the turn
            n = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
            await asyncio.sleep(0.001)
            await session.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})
            await session.commit()

    await asyncio.gather(*(bump() for _ in range(20)))
    async with maker() as session:
        assert (await session.execute(text("SELECT n FROM counter"))).scalar_one() == 20
    await engine.dispose()


async def test_a_writer_waits_for_the_turn_while_readers_do_not(tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    maker = make_sessionmaker(engine)
    order: list[str] = []
    async with maker() as first:
        await first.execute(text("UPDATE counter SET n = 7 WHERE id = 1"))

        async def second_writer() -> None:
            async with maker() as second:
                await second.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
                order.append("second wrote")
                await second.commit()

        waiting = asyncio.create_task(second_writer())
        await asyncio.sleep(0.05)
        async with maker() as reader:  # WAL: sees the last commit, without waiting
            assert (await reader.execute(text("SELECT n FROM counter"))).scalar_one() == 0
        assert order == []
        order.append("first commits")
        await first.commit()
        await waiting
    assert order == ["first commits", "second wrote"]
    async with maker() as session:
        assert (await session.execute(text("SELECT n FROM counter"))).scalar_one() == 8
    await engine.dispose()


async def test_a_failed_transaction_gives_the_turn_back(tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    maker = make_sessionmaker(engine)
    async with maker() as session:
        await session.execute(text("UPDATE counter SET n = 1 WHERE id = 1"))
        with pytest.raises(Exception, match="no such table"):
            await session.execute(text("INSERT INTO missing VALUES (1)"))
        await session.rollback()
    async with maker() as session:
        await asyncio.wait_for(session.execute(text("UPDATE counter SET n = 2 WHERE id = 1")), 1)
        await session.commit()
    await engine.dispose()
