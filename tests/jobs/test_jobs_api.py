"""Job records: creation, validation without partial writes, edits, listing by local day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from routeboard.auth.tokens import issue_token
from routeboard.models import AuthSession
from tests.conftest import JWT_KEY, Env
from tests.flows import VIN, create_job, job_body, schedule, to_state

pytestmark = pytest.mark.anyio


async def _counts(env: Env) -> tuple[int, int, int]:
    rows = await env.sql(
        "SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM vehicles),"
        " (SELECT count(*) FROM audit_entries)"
    )
    return tuple(rows[0])


async def test_create_returns_the_job_in_quoted_with_an_audit_entry(env: Env) -> None:
    job = await create_job(
        env, window={"start": "2026-12-01T09:00:00-06:00", "end": "2026-12-01T12:00:00-06:00"}
    )
    assert job["state"] == "quoted"
    assert job["vehicle"] == {"year": 2019, "make": "Honda", "model": "Accord", "vin": VIN}
    assert job["insurance"]["deductible_cents"] == 25000
    # Stored in UTC, answered with an explicit offset.
    assert job["window"]["start"] in ("2026-12-01T15:00:00Z", "2026-12-01T15:00:00+00:00")
    assert job["created_at"].endswith(("Z", "+00:00"))
    assert await _counts(env) == (1, 1, 1)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (
            {
                "vehicle": {
                    "year": 2019,
                    "make": "Honda",
                    "model": "Accord",
                    "vin": "1HGCM82633A004353",
                }
            },
            "check digit",
        ),
        (
            {
                "vehicle": {
                    "year": 2019,
                    "make": "Honda",
                    "model": "Accord",
                    "vin": "1HGCM82633A00435",
                }
            },
            "17 characters",
        ),
        (
            {
                "vehicle": {
                    "year": 2019,
                    "make": "Honda",
                    "model": "Accord",
                    "vin": "IHGCM82633A004352",
                }
            },
            "'I'",
        ),
        ({"service_type": "detailing"}, "service_type"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"site": {"address": "x", "lat": 33, "lon": 200}}, "lon"),
        (
            {"window": {"start": "2026-12-01T12:00:00-06:00", "end": "2026-12-01T09:00:00-06:00"}},
            "end after",
        ),
        ({"window": {"start": "2026-12-01T09:00:00", "end": "2026-12-01T12:00:00"}}, "timezone"),
        ({"insurance": {"carrier": "X", "deductible_cents": -5}}, "deductible_cents"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
async def test_invalid_jobs_are_refused_with_422_and_leave_nothing(
    env: Env,
    change: dict[str, object],
    needle: str,
) -> None:
    r = await env.client.post(
        "/api/v1/jobs", json=job_body(env.cast.customer_id, **change), headers=env.h("dispatcher")
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_input"
    assert needle in body["message"] or needle in str(body["details"])
    assert await _counts(env) == (0, 0, 0)


async def test_unknown_or_inactive_customer(env: Env) -> None:
    r = await env.client.post("/api/v1/jobs", json=job_body(424242), headers=env.h("dispatcher"))
    assert (r.status_code, r.json()["error"]) == (404, "customer_not_found")
    await env.client.delete(
        f"/api/v1/customers/{env.cast.customer2_id}", headers=env.h("dispatcher")
    )
    r = await env.client.post(
        "/api/v1/jobs", json=job_body(env.cast.customer2_id), headers=env.h("dispatcher")
    )
    assert (r.status_code, r.json()["error"]) == (422, "customer_inactive")
    assert await _counts(env) == (0, 0, 0)


async def test_the_same_vehicle_is_reused(env: Env) -> None:
    await create_job(env)
    await create_job(env)
    assert await _counts(env) == (2, 1, 2)


async def test_patch_edits_details_and_records_them(env: Env) -> None:
    jid = await to_state(env, "scheduled")
    r = await env.client.patch(
        f"/api/v1/jobs/{jid}",
        json={"notes": "Gate code 4411", "duration_minutes": 120},
        headers=env.h("dispatcher"),
    )
    assert r.status_code == 200
    job = r.json()
    assert (job["notes"], job["duration_minutes"]) == ("Gate code 4411", 120)
    assert job["scheduled_end"].startswith("2026-12-01T17:00:00")
    trail = (await env.client.get(f"/api/v1/jobs/{jid}/audit", headers=env.h("dispatcher"))).json()
    assert trail["entries"][-1]["data"] == {"fields": ["duration_minutes", "notes"]}


async def test_lengthening_into_the_next_job_is_refused(env: Env) -> None:
    jid = await to_state(env, "scheduled")  # 09:00-10:30 tech1
    nxt = await to_state(env, "quoted")
    await schedule(env, nxt, start=datetime(2026, 12, 1, 16, 45, tzinfo=UTC))
    r = await env.client.patch(
        f"/api/v1/jobs/{jid}", json={"duration_minutes": 120}, headers=env.h("dispatcher")
    )
    assert (r.status_code, r.json()["error"]) == (409, "schedule_overlap")


async def test_a_completed_job_cannot_be_edited(env: Env) -> None:
    jid = await to_state(env, "completed")
    r = await env.client.patch(
        f"/api/v1/jobs/{jid}", json={"notes": "x"}, headers=env.h("dispatcher")
    )
    assert (r.status_code, r.json()["error"]) == (409, "job_closed")


async def test_listing_filters_by_business_day_state_and_technician_with_pages(env: Env) -> None:
    # 23:30 in Dallas on 1 December is 05:30 UTC on 2 December: it belongs to the 1st.
    late = await to_state(env, "quoted")
    await schedule(
        env, late, start=datetime(2026, 12, 2, 5, 30, tzinfo=UTC), override_reason="late call-out"
    )
    morning = await to_state(env, "scheduled")
    other = await to_state(env, "quoted")
    await schedule(env, other, env.cast.tech2_id, datetime(2026, 12, 2, 15, 0, tzinfo=UTC))
    unscheduled = await to_state(env, "quoted")

    async def ids(query: str) -> list[int]:
        r = await env.client.get(f"/api/v1/jobs?{query}", headers=env.h("dispatcher"))
        assert r.status_code == 200, r.text
        return [j["id"] for j in r.json()["items"]]

    assert await ids("date=2026-12-01") == [morning, late]
    assert await ids("date=2026-12-02") == [other]
    assert await ids(f"technician_id={env.cast.tech2_id}") == [other]
    assert set(await ids("status=quoted")) == {unscheduled}
    page = (
        await env.client.get("/api/v1/jobs?limit=2&offset=2", headers=env.h("dispatcher"))
    ).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (4, 2, 2, 2)
    r = await env.client.get("/api/v1/jobs?status=lost", headers=env.h("dispatcher"))
    assert r.status_code == 422
    r = await env.client.get("/api/v1/jobs?limit=1000", headers=env.h("dispatcher"))
    assert r.status_code == 422


async def test_technicians_and_customers_see_only_their_own_jobs(env: Env) -> None:
    mine = await to_state(env, "scheduled")
    r = await env.client.post(
        "/api/v1/jobs", json=job_body(env.cast.customer2_id), headers=env.h("dispatcher")
    )
    theirs = r.json()["id"]
    listing = (await env.client.get("/api/v1/jobs", headers=env.h("tech1"))).json()
    assert [j["id"] for j in listing["items"]] == [mine]
    assert (await env.client.get("/api/v1/jobs", headers=env.h("tech2"))).json()["total"] == 0
    assert (await env.client.get(f"/api/v1/jobs/{mine}", headers=env.h("tech2"))).status_code == 404
    customer = (await env.client.get("/api/v1/jobs", headers=env.h("customer"))).json()
    assert [j["id"] for j in customer["items"]] == [mine]
    r = await env.client.get(f"/api/v1/jobs/{theirs}", headers=env.h("customer"))
    assert (r.status_code, r.json()["error"]) == (404, "job_not_found")


@pytest.mark.parametrize("role", ["tech1", "customer", "anonymous"])
async def test_only_the_office_creates_jobs(env: Env, role: str) -> None:
    r = await env.client.post(
        "/api/v1/jobs", json=job_body(env.cast.customer_id), headers=env.h(role)
    )
    assert r.status_code == (401 if role == "anonymous" else 403)
    assert await _counts(env) == (0, 0, 0)


async def test_unknown_job_and_route_answer_json(env: Env) -> None:
    r = await env.client.get("/api/v1/jobs/999", headers=env.h("dispatcher"))
    assert r.json() == {"error": "job_not_found", "message": "job 999 not found", "details": None}
    r = await env.client.get("/api/v1/nothing-here", headers=env.h("dispatcher"))
    assert (r.status_code, r.json()["error"]) == (404, "not_found")


async def test_the_newest_model_year_moves_with_the_clock_of_a_running_server(env: Env) -> None:
    """The bound is read at each request: a server running over New Year takes next year's."""
    env.clock.now = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    async with env.app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(AuthSession)
            .where(AuthSession.id == "cast-session-dispatcher")
            .values(expires_at=env.clock.now + timedelta(days=1))
        )
    token = issue_token(
        JWT_KEY, user_id=env.cast.user_ids["dispatcher"], role="dispatcher", token_version=0,
        session_id="cast-session-dispatcher", minutes=60, now=env.clock.now,
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    vehicle = {"year": 2029, "make": "Toyota", "model": "Camry", "vin": VIN}
    body = job_body(env.cast.customer_id, vehicle=vehicle)
    r = await env.client.post("/api/v1/jobs", json=body, headers=headers)
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_input"
    assert r.json()["details"][0]["loc"] == ["body", "vehicle", "year"]
    assert "2028" in r.json()["message"]

    env.clock.advance(minutes=2)
    r = await env.client.post("/api/v1/jobs", json=body, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["vehicle"]["year"] == 2029
