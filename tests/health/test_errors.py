"""Every refusal and every failure is the documented JSON error: never a plain-text 500."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from routeboard.app import create_app
from routeboard.auth.tokens import issue_token
from routeboard.config import Settings
from routeboard.db import is_outage
from tests.conftest import JWT_KEY, T0, Clock, Env
from tests.events.live import free_port
from tests.ingest.test_ingest import URL, report

pytestmark = pytest.mark.anyio
CUSTOMER = {"name": "Ann Lee", "phone": "+1 214 555 0142", "email": "ann@example.com"}


async def test_the_database_away_is_503_with_retry_after(tmp_path: Path) -> None:
    # Nothing listens on this port: every query fails as it would with the server stopped.
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/routeboard"
    app = create_app(
        Settings(data_dir=tmp_path, database_url=url, jwt_secret=JWT_KEY), clock=Clock()
    )
    token = issue_token(
        JWT_KEY, user_id=1, role="dispatcher", token_version=0, session_id="s", minutes=10, now=T0
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 503
            assert r.headers["retry-after"] == "5"
            assert r.json()["error"] == "database_unavailable"
            assert (await client.get("/readyz")).status_code == 503
    finally:
        await app.state.engine.dispose()


async def test_an_unexpected_failure_is_a_json_500(env: Env) -> None:
    async def broken() -> None:
        raise RuntimeError("a bug")

    env.app.add_api_route("/api/v1/broken-for-test", broken)
    transport = httpx.ASGITransport(app=env.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.get("/api/v1/broken-for-test")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"] == "internal_error"
    assert "a bug" not in r.text


async def test_a_nul_character_is_refused_on_both_databases(env: Env) -> None:
    h = env.h("dispatcher")
    body = {**CUSTOMER, "name": "Ann\u0000Lee"}
    r = await env.client.post("/api/v1/customers", json=body, headers=h)
    assert (r.status_code, r.json()["error"]) == (422, "invalid_input"), r.text
    assert "NUL" in r.json()["message"]
    r = await env.client.get("/api/v1/jobs?q=a%00b", headers=h)
    assert (r.status_code, r.json()["error"]) == (422, "invalid_input")
    # The same text without it is fine.
    r = await env.client.post("/api/v1/customers", json=CUSTOMER, headers=h)
    assert r.status_code == 201, r.text


async def test_a_report_from_year_one_is_refused_not_stored(env: Env) -> None:
    batch = [
        report(env, "y1", recorded_at="0001-01-01T00:00:00+05:00"),
        report(env, "y2", recorded_at="0001-01-01T00:00:00+00:00"),
        report(env, "ok", -1),
    ]
    r = await env.client.post(URL, json={"events": batch}, headers=env.h("integration"))
    assert r.status_code == 200, r.text
    assert [x["reason"] for x in r.json()["results"]] == ["invalid", "invalid", None]


async def test_nul_is_refused_however_the_body_is_labelled(env: Env) -> None:
    h = env.h("dispatcher")
    raw = json.dumps({**CUSTOMER, "name": "Ann\u0000Lee"}).encode()
    for kind in ("Application/JSON", "application/merge-patch+json; charset=utf-8", None):
        headers = {**h, **({"Content-Type": kind} if kind else {})}
        r = await env.client.post("/api/v1/customers", content=raw, headers=headers)
        assert (r.status_code, r.json()["error"]) == (422, "invalid_input"), (kind, r.text)
    r = await env.client.get("/api/v1/jobs/1%00", headers=h)
    assert (r.status_code, r.json()["error"]) == (422, "invalid_input")


class _Orig(Exception):
    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.sqlstate = state


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (PoolTimeout("pool exhausted"), True),
        (DBAPIError("SELECT 1", {}, _Orig("57P03")), True),  # cannot connect now (starting)
        (DBAPIError("SELECT 1", {}, _Orig("53300")), True),  # too many connections
        (DBAPIError("INSERT", {}, _Orig("22021")), False),  # a NUL: the input's fault
        (PermissionError(13, "denied"), False),  # a disk problem is not the database away
        (ValueError("a bug"), False),
    ],
)
def test_what_counts_as_the_database_being_away(error: Exception, outage: bool) -> None:
    assert is_outage(error) is outage
