"""The OpenAPI schema is a contract: schemathesis fuzzes every operation against it.

Each operation in the schema is called in-process (ASGI, no server) as the authenticated
dispatcher with generated requests, valid and invalid alike, and every response must be neither a
server error nor a contradiction of the schema: its status code, content type, headers and body
must be ones the schema declares for that operation.

Bounded for CI: ``MAX_EXAMPLES`` requests per operation, derandomized (the same requests on every
run, so a failure reproduces and the time stays put), no example database written to disk, and no
shrinking, so a failing run takes no longer than a passing one.

Hostile values JSON Schema cannot describe are mixed in (``MUTATIONS``): a NUL in a text, NaN
and infinities for a number, sent as a broken tracker or an attacker would. SQLite by default: the
contract does not depend on the database, and the API suite already runs every behaviour on
PostgreSQL too; ``ROUTEBOARD_FUZZ_BACKEND=postgresql`` and ``ROUTEBOARD_FUZZ_EXAMPLES`` make the
long run on PostgreSQL (the module prints how many requests it sent).

The world is seeded once per module through the real API (the conftest cast, then one job per
state in ``JOB_STATES``) so the small ids that generation favours often name rows that exist;
generated requests go on changing that world, which is fine. The dispatcher signs in once per
operation, so an operation that ends its own session (sign-out) does not leave every later one
answering 401.

The schema comes from ``app.openapi()``, which needs no database, and each operation is a plain
``pytest.mark.parametrize`` case running a Hypothesis test over ``operation.as_strategy(...)`` for
both generation modes, as schemathesis' own pytest plugin does. The plugin's
``@schema.parametrize()`` is not used: under pytest 9.2 it gives every operation the same node id
(and its fixture-based loader, ``schemathesis.pytest.from_fixture``, fails on the removed
``Node._nodeid``), so failures could not be told apart or rerun one by one.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text

from routeboard.app import create_app
from routeboard.config import Settings
from routeboard.db import make_engine
from routeboard.migrate import upgrade
from tests import flows
from tests.conftest import JWT_KEY, PASSWORD, PG_HOST, PG_PORT, T0, Clock, Env, _seed_cast

# Generated requests per operation; a long run sets more (the nothing-lost issue ran 20,000+
# on PostgreSQL: ROUTEBOARD_FUZZ_EXAMPLES=120 ROUTEBOARD_FUZZ_BACKEND=postgresql).
MAX_EXAMPLES = int(os.environ.get("ROUTEBOARD_FUZZ_EXAMPLES", "25"))
BACKEND = os.environ.get("ROUTEBOARD_FUZZ_BACKEND", "sqlite")
# Hostile values mixed into generated requests: what a broken tracker or an attacker sends and
# JSON Schema cannot describe (PostgreSQL refuses a NUL in any text; Python parses NaN).
MUTATIONS = ("as generated", "nul", "nan", "inf", "-inf")
SENT: list[int] = [0]
# Seeded as jobs 1..4, so generated job ids reach a job in each of these states.
JOB_STATES = ("quoted", "scheduled", "completed", "invoiced")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(database_url=database_url, data_dir=data_dir, jwt_secret=JWT_KEY)


# Only the document is needed here: this app is never called, so its engine never connects.
SCHEMA = schemathesis.openapi.from_dict(
    create_app(_settings(Path("unused"), "sqlite+aiosqlite://")).openapi()
)
Operation = schemathesis.APIOperation[Any, Any, Any, Any]
# The event stream never ends by design, so it has no response to validate here; its contract
# (frames, resume, access) is tested in tests/events.
STREAMING = {"GET /api/v1/stream"}
OPERATIONS: list[Operation] = [
    op for methods in SCHEMA.values() for op in methods.values() if op.label not in STREAMING
]


@dataclass
class Api:
    app: FastAPI
    # Bearer headers of the dispatcher's own session for each operation, by label.
    headers: dict[str, dict[str, str]]


async def _sign_in(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    r = await client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _seed(settings: Settings) -> dict[str, dict[str, str]]:
    """Migrate, add the conftest cast, drive one job into each state in ``JOB_STATES``, and sign
    the dispatcher in once per operation; returns the bearer headers by operation label."""
    engine = make_engine(settings.effective_database_url)
    try:
        await upgrade(engine)
        cast = await _seed_cast(engine, JWT_KEY)
        # An app of its own on this event loop (the app under test runs on schemathesis' loop),
        # allowed as many sign-ins from one address as there are operations.
        limits = {"login_attempts_per_minute": len(OPERATIONS) + 1}
        app = create_app(settings.model_copy(update=limits), clock=Clock())
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://seed") as client:
                env = Env(
                    client=client,
                    engine=engine,
                    clock=Clock(),
                    cast=cast,
                    settings=settings,
                    app=app,
                )
                for i, state in enumerate(JOB_STATES):
                    # Two hours apart at one site: tech1's day holds all of them.
                    start = flows.START + timedelta(hours=2 * i)
                    await flows.to_state(env, state, start=start)
                return {op.label: await _sign_in(client, "dispatcher") for op in OPERATIONS}
        finally:
            await app.state.engine.dispose()
    finally:
        await engine.dispose()


async def _admin(statement: str) -> None:
    engine = make_engine(
        f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/test", isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    data_dir = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite+aiosqlite:///{data_dir / 'routeboard.sqlite3'}"
    name = f"routeboard_fuzz_{os.getpid()}"
    if BACKEND == "postgresql":
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    settings = _settings(data_dir, url)
    headers = asyncio.run(_seed(settings))
    # The tokens were issued at T0; a clock stopped there keeps them live.
    app = create_app(settings, clock=lambda: T0)
    yield Api(app, headers)
    asyncio.run(app.state.engine.dispose())
    print(f"\nschemathesis: {SENT[0]} requests on {BACKEND}, no server error")
    if BACKEND == "postgresql":
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def hostile(case: schemathesis.Case[Operation], how: str) -> None:
    """Put a NUL into the first text, or a non-finite number into the first number, of the
    case's JSON body (else its query)."""
    if how == "as generated":
        return
    body = case.body if isinstance(case.body, dict) else None
    for target in (body, case.query):
        if not target:
            continue
        for key, value in target.items():
            if how == "nul" and isinstance(value, str):
                target[key] = value + "\x00"
            elif how != "nul" and isinstance(value, int | float) and not isinstance(value, bool):
                target[key] = float(how)
            else:
                continue
            if target is body:
                # Sent as bytes: the transport's own JSON encoder refuses NaN, a tracker does not.
                case.body = json.dumps(body).encode()
            return


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_operation_conforms_to_the_schema(operation: Operation, api: Api) -> None:
    cases = st.one_of(
        [operation.as_strategy(generation_mode=mode) for mode in schemathesis.GenerationMode]
    )

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        # Shrinking a failure that times out can take Hypothesis minutes.
        phases=[Phase.explicit, Phase.generate],
        # Half the draws of a parameterless operation are negative ones that cannot exist.
        suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
    )
    @given(case=cases, how=st.sampled_from(MUTATIONS))
    def call(case: schemathesis.Case[Operation], how: str) -> None:
        hostile(case, how)
        SENT[0] += 1
        case.call_and_validate(app=api.app, headers=api.headers[operation.label], checks=CHECKS)

    call()
