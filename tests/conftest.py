"""Real-database fixtures and the cast of role users.

Every API test runs twice: on SQLite and on PostgreSQL. Each backend's schema is built once per
session by the real Alembic migrations and emptied between tests. PostgreSQL is skipped with a
reason when unreachable, unless ROUTEBOARD_REQUIRE_SERVICES=1, where its absence fails the run.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from routeboard.app import create_app
from routeboard.auth.service import digest
from routeboard.auth.tokens import hash_password, issue_token
from routeboard.config import Settings
from routeboard.db import Base, make_engine
from routeboard.migrate import upgrade
from routeboard.models import ApiKey, AuthSession, Customer, Technician, User

PG_HOST = os.environ.get("ROUTEBOARD_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("ROUTEBOARD_TEST_PG_PORT", "5432"))
REQUIRE_SERVICES = os.environ.get("ROUTEBOARD_REQUIRE_SERVICES") == "1"
JWT_KEY = "test-signing-key-0123456789abcdef0123456789"
PASSWORD = "correct horse battery"
# One argon2 hash shared by the cast: hashing per test would dominate the suite's time.
PASSWORD_HASH = hash_password(PASSWORD)
DEVICE_KEY = "rbk_0000device01_device-secret-for-tests-0123456789"
INTEGRATION_KEY = "rbk_00integrat01_integration-secret-for-tests-012345"
# Tuesday 1 December 2026, 06:00 in Dallas: before the working day starts.
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def _pg_reachable() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Databases:
    """One migrated database per backend, made on first use and dropped at the end.

    Looked up per test by the ``backend`` the test sees, so a folder that narrows ``backend``
    (tests/access, tests/scaleout) really gets that database, whatever ran before it.
    """

    def __init__(self, tmp: pytest.TempPathFactory) -> None:
        self.tmp = tmp
        self.urls: dict[str, str] = {}
        self.pg_name = f"routeboard_test_{os.getpid()}"

    def _admin(self) -> AsyncEngine:
        return make_engine(
            f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/test", isolation_level="AUTOCOMMIT"
        )

    async def url(self, backend: str) -> str:
        if backend in self.urls:
            return self.urls[backend]
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{self.tmp.mktemp('db') / 'routeboard.sqlite3'}"
        else:
            if not _pg_reachable():
                reason = f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT}"
                if REQUIRE_SERVICES:
                    pytest.fail(f"{reason} and ROUTEBOARD_REQUIRE_SERVICES=1")
                pytest.skip(reason)
            admin = self._admin()
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{self.pg_name}"'))
                await conn.execute(text(f'CREATE DATABASE "{self.pg_name}"'))
            await admin.dispose()
            url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{self.pg_name}"
        engine = make_engine(url)
        await upgrade(engine)
        await engine.dispose()
        self.urls[backend] = url
        return url

    async def close(self) -> None:
        if "postgresql" in self.urls:
            admin = self._admin()
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))
            await admin.dispose()


@pytest.fixture(scope="session")
async def databases(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Databases]:
    made = Databases(tmp_path_factory)
    yield made
    await made.close()


@pytest.fixture
async def database_url(backend: str, databases: Databases) -> str:
    return await databases.url(backend)


async def _empty(engine: AsyncEngine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                await conn.execute(text(f"DELETE FROM {name}"))
            seq = await conn.execute(
                text("SELECT name FROM sqlite_master WHERE name = 'sqlite_sequence'")
            )
            if seq.first():
                await conn.execute(text("DELETE FROM sqlite_sequence"))


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class Cast:
    """The fixed cast: ids and bearer headers per role."""

    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    tech1_id: int = 0
    tech2_id: int = 0
    customer_id: int = 0
    customer2_id: int = 0


@dataclass
class Env:
    client: httpx.AsyncClient
    engine: AsyncEngine
    clock: Clock
    cast: Cast
    settings: Settings
    app: FastAPI
    slots_taken: int = 0

    def h(self, role: str) -> dict[str, str]:
        return self.cast.headers[role]

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        async with self.engine.begin() as conn:
            result = await conn.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []


HOURS = {d: ["08:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


async def _seed_cast(engine: AsyncEngine, key: str) -> Cast:
    from routeboard.db import make_sessionmaker

    cast = Cast()
    async with make_sessionmaker(engine)() as session:
        t1 = Technician(
            name="Marco Diaz",
            phone="+1 214 555 0101",
            email="marco@example.com",
            skills=["windshield_replacement", "chip_repair", "adas_calibration"],
            home_address="Plano shop",
            home_lat=33.0198,
            home_lon=-96.6989,
            working_hours=HOURS,
            created_at=T0,
        )
        t2 = Technician(
            name="Dana Whitfield",
            phone="+1 214 555 0102",
            email="dana@example.com",
            skills=["windshield_replacement", "chip_repair", "side_back_glass"],
            home_address="Plano shop",
            home_lat=33.0198,
            home_lon=-96.6989,
            working_hours=HOURS,
            created_at=T0,
        )
        c1 = Customer(
            name="Alice Moreno",
            phone="+1 972 555 0199",
            email="alice@example.com",
            preferred_channel="sms",
            sms_consent=True,
            created_at=T0,
        )
        c2 = Customer(
            name="Bob Stone", phone="+1 469 555 0123", email="bob@example.com", created_at=T0
        )
        session.add_all([t1, t2, c1, c2])
        await session.flush()
        links: dict[str, dict[str, Any]] = {
            "admin": {"role": "admin"},
            "dispatcher": {"role": "dispatcher"},
            "tech1": {"role": "technician", "technician_id": t1.id},
            "tech2": {"role": "technician", "technician_id": t2.id},
            "customer": {"role": "customer", "customer_id": c1.id},
            "customer2": {"role": "customer", "customer_id": c2.id},
        }
        users = {
            name: User(username=name, password_hash=PASSWORD_HASH, created_at=T0, **kw)
            for name, kw in links.items()
        }
        session.add_all(users.values())
        await session.flush()
        for name, user in users.items():
            sid = f"cast-session-{name}"
            session.add(
                AuthSession(
                    id=sid,
                    user_id=user.id,
                    kind="api",
                    secret_hash=digest(f"unused-{name}"),
                    created_at=T0,
                    expires_at=T0 + timedelta(days=30),
                )
            )
            token = issue_token(
                key,
                user_id=user.id,
                role=user.role,
                token_version=0,
                session_id=sid,
                minutes=7 * 24 * 60,
                now=T0,
            )
            cast.headers[name] = {"Authorization": f"Bearer {token}"}
            cast.user_ids[name] = user.id
        session.add_all(
            [
                ApiKey(
                    name="tech1 phone",
                    prefix=DEVICE_KEY[:16],
                    key_hash=digest(DEVICE_KEY),
                    scope="technician",
                    technician_id=t1.id,
                    created_by_id=users["admin"].id,
                    created_at=T0,
                ),
                ApiKey(
                    name="shop software",
                    prefix=INTEGRATION_KEY[:16],
                    key_hash=digest(INTEGRATION_KEY),
                    scope="integration",
                    created_by_id=users["admin"].id,
                    created_at=T0,
                ),
            ]
        )
        await session.commit()
        cast.headers["device"] = {"X-API-Key": DEVICE_KEY}
        cast.headers["integration"] = {"X-API-Key": INTEGRATION_KEY}
        cast.headers["anonymous"] = {}
        cast.tech1_id, cast.tech2_id = t1.id, t2.id
        cast.customer_id, cast.customer2_id = c1.id, c2.id
    return cast


@pytest.fixture
async def env(database_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    # No message worker in the background: tests that send messages run a Worker themselves.
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, jwt_secret=JWT_KEY, notify_worker=False
    )
    engine = make_engine(database_url)
    await _empty(engine)
    cast = await _seed_cast(engine, JWT_KEY)
    clock = Clock()
    app = create_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Env(client, engine, clock, cast, settings, app)
    await app.state.engine.dispose()
    await engine.dispose()
