"""Applying the Alembic migrations to a database, from the CLI, on start and in tests.

Several instances may start together on an empty database (a compose file, an orchestrator):
each checks whether the schema is current, and only if not takes the database's migration lock
(a PostgreSQL advisory lock, SQLite's write lock) and migrates inside it. The first one in
migrates; the others wait, then find nothing left to do.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

SCRIPTS = Path(__file__).parent / "migrations"
# Names "Routeboard's migrations" among the advisory locks of a shared PostgreSQL server.
ADVISORY_LOCK_KEY = 0x526F757465_6D6967  # "Route" "mig"
# How long an instance waits for another's migration before giving up.
LOCK_WAIT_SECONDS = 120.0


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


def _is_current(connection: Connection, revision: str) -> bool:
    heads = set(ScriptDirectory.from_config(alembic_config()).get_revisions(revision))
    wanted = {script.revision for script in heads if script is not None}
    return set(MigrationContext.configure(connection).get_current_heads()) == wanted


async def _take_lock(conn: AsyncConnection) -> None:
    """The migration lock, held until this transaction ends."""
    if conn.dialect.name == "postgresql":
        # Bounded like SQLite's wait: an instance stuck behind a hung migration fails, visibly.
        await conn.execute(text(f"SET LOCAL lock_timeout = '{int(LOCK_WAIT_SECONDS)}s'"))
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        # An immediate transaction takes the write lock now rather than at the first write;
        # another process's waits out busy_timeout, then tries again until LOCK_WAIT_SECONDS.
        with anyio.fail_after(LOCK_WAIT_SECONDS):
            while True:
                try:
                    await conn.exec_driver_sql("BEGIN IMMEDIATE")
                    return
                except OperationalError as exc:
                    # Only "another process is writing" is waited out; anything else is real.
                    busy = isinstance(exc.orig, sqlite3.OperationalError) and (
                        "locked" in str(exc.orig) or "busy" in str(exc.orig)
                    )
                    if not busy:
                        raise
                    await anyio.sleep(0.1)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate to ``revision`` under the migration lock, unless the schema is already there."""

    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with engine.connect() as conn:
        current = await conn.run_sync(_is_current, revision)
        await conn.rollback()
    if current:
        return
    async with engine.begin() as conn:
        await _take_lock(conn)
        # Whoever held the lock before may have done it all: Alembic reads the version again.
        await conn.run_sync(run)
