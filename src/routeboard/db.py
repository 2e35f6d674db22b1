"""Engine, the declarative base, and the session that commits at the request boundary."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import aiosqlite
from annotated_types import Ge, Le
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The largest id both SQLite INTEGER and PostgreSQL BIGINT hold: larger ones are a 422, not a 500.
ID_MAX = 2**63 - 1
Id = Annotated[int, Ge(1), Le(ID_MAX)]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant: refuses naive datetimes, stores UTC, always returns an aware UTC value.

    SQLite has no time zone type, so without this a value read back would be naive and
    comparisons with aware values would fail or, worse, silently shift by the local offset.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an instant is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Writers in this process take turns (``InlineSqlite``); this only covers another process
    # (a CLI command) holding the write lock for a moment. The wait blocks the event loop.
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "BEGIN", "SAVEPOINT")
_LOCK_WAIT_SECONDS = 30.0
_writers: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = {}


def _writes(args: tuple[Any, ...]) -> bool:
    return (
        bool(args) and isinstance(args[0], str) and args[0].lstrip()[:9].upper().startswith(_WRITES)
    )


def _writer_lock(database: str) -> asyncio.Lock:
    """The turn to write ``database`` for this process (one per event loop)."""
    loop = asyncio.get_running_loop()
    held = _writers.get(database)
    if held is None or held[0] is not loop:
        held = _writers[database] = (loop, asyncio.Lock())
    return held[1]


class InlineSqlite(aiosqlite.Connection):
    """An aiosqlite connection that runs SQLite on the event loop instead of a thread.

    A statement on a local SQLite file takes microseconds; handing each one to a thread and back
    cost about 300 µs of CPU, most of a request's cost (bench/stream.py measures it). What
    must never happen on the loop is a wait for SQLite's file lock, so this process's writers
    take turns on an asyncio lock: a connection takes it at its first write statement and gives
    it back when its transaction ends. Readers never wait (WAL).
    """

    def __init__(self, database: str, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._database = database
        self._turn: asyncio.Lock | None = None

    def __await__(self) -> Generator[Any, None, InlineSqlite]:
        return self._open().__await__()

    async def _open(self) -> InlineSqlite:
        self._connection = self._connector()
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        conn = self._connection
        if conn is None:
            raise ValueError("Connection closed")
        if self._turn is None and _writes(args):
            turn = _writer_lock(self._database)
            try:
                await asyncio.wait_for(turn.acquire(), _LOCK_WAIT_SECONDS)
            except TimeoutError:
                raise sqlite3.OperationalError("database is locked") from None
            self._turn = turn
        try:
            return fn(*args, **kwargs)
        finally:
            if self._turn is not None and (self._connection is None or not conn.in_transaction):
                self._turn.release()
                self._turn = None

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._turn is not None:
            self._turn.release()
            self._turn = None

    async def close(self) -> None:
        self.stop()


def _inline_sqlite(url: str) -> Callable[[], Awaitable[InlineSqlite]]:
    dialect = SQLiteDialect_pysqlite()
    args, options = dialect.create_connect_args(make_url(url))
    connect_to: Callable[..., sqlite3.Connection] = sqlite3.connect
    database = str(Path(args[0]).resolve()) if args and args[0] != ":memory:" else str(args)

    async def connect() -> InlineSqlite:
        return await InlineSqlite(database, lambda: connect_to(*args, **options))

    return connect


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if make_url(url).drivername == "sqlite+aiosqlite":
        kwargs.setdefault("async_creator", _inline_sqlite(url))
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


# PostgreSQL error classes that mean "not now" rather than "not this": connection exceptions,
# insufficient resources (too many connections), operator intervention (shutting down, starting).
OUTAGE_SQLSTATES = ("08", "53", "57P")


def sqlstate(exc: BaseException) -> str:
    """The PostgreSQL SQLSTATE behind ``exc`` (asyncpg through SQLAlchemy), or ''."""
    orig = getattr(exc, "orig", None)
    return str(getattr(orig, "sqlstate", None) or getattr(exc, "sqlstate", None) or "")


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached (worth waiting out), rather than
    that something about the work itself is wrong."""
    if isinstance(exc, ConnectionError | TimeoutError | PoolTimeout | InterfaceError):
        return True
    if sqlstate(exc).startswith(OUTAGE_SQLSTATES):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    # SQLite's "database is locked" and its kin; PostgreSQL's arrive as plain DBAPIErrors.
    return isinstance(exc, OperationalError) and not sqlstate(exc)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Responses are built after the commit, so loaded attributes must survive it.
    return async_sessionmaker(engine, expire_on_commit=False)
