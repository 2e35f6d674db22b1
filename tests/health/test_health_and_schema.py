"""Health endpoints, and the migrations matching the models on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from routeboard.db import Base
from tests.conftest import Env

pytestmark = pytest.mark.anyio


async def test_health_and_readiness(env: Env) -> None:
    assert (await env.client.get("/healthz")).json() == {"status": "ok"}
    assert (await env.client.get("/readyz")).json() == {"status": "ready", "broadcaster": "up"}


async def test_migrations_build_exactly_the_models(env: Env) -> None:
    def diff(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))

    async with env.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_openapi_documents_the_api(env: Env) -> None:
    schema = (await env.client.get("/openapi.json")).json()
    for path in (
        "/api/v1/auth/token",
        "/api/v1/jobs/{job_id}/transitions",
        "/api/v1/jobs/{job_id}/schedule",
        "/api/v1/jobs/{job_id}/audit",
        "/api/v1/jobs/{job_id}/quote/approve",
    ):
        assert path in schema["paths"]
