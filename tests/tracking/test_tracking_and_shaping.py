"""Customer links and what each role is shown of a job."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt
import pytest

from routeboard.metrics.service import DENIED
from tests.conftest import JWT_KEY, Env
from tests.flows import START, act, job_body, to_state
from tests.jobs.test_lifecycle import snapshot

pytestmark = pytest.mark.anyio


async def link(env: Env, job_id: int) -> dict[str, Any]:
    r = await env.client.post(f"/api/v1/jobs/{job_id}/tracking-link", headers=env.h("dispatcher"))
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_a_link_shows_the_customer_view_and_nothing_internal(env: Env) -> None:
    jid = await to_state(env, "en_route")
    created = await link(env, jid)
    assert created["url"].endswith(f"/track/{created['token']}")
    r = await env.client.get(f"/api/v1/track/{created['token']}")
    assert r.status_code == 200
    view = r.json()
    assert view["job"]["progress"] == "on_the_way"
    assert view["job"]["technician"] == {"first_name": "Marco", "photo_url": None}
    assert view["job"]["vehicle"] == {"year": 2019, "make": "Honda", "model": "Accord"}
    text = r.text
    for secret in ("Diaz", "marco@example.com", "555 0101", "CLM-1", "POL-9", "1HGCM82633A004352"):
        assert secret not in text


async def test_tampered_expired_and_revoked_links_are_refused(env: Env) -> None:
    jid = await to_state(env, "scheduled")
    other = await to_state(env, "scheduled", start=START + timedelta(hours=3))
    token = (await link(env, jid))["token"]
    # Read at the suite's instant, not PyJWT's wall clock: the link expires 72 h after T0.
    claims = jwt.decode(token, JWT_KEY, algorithms=["HS256"], options={"verify_exp": False})
    # Pointing a genuine link at another job needs the server's key.
    forged = jwt.encode(
        {**claims, "jid": other}, "not-the-server-key-0123456789abcdef", algorithm="HS256"
    )
    unsigned = token.rsplit(".", 1)[0] + ".AAAA"
    for bad in (forged, unsigned, "garbage"):
        r = await env.client.get(f"/api/v1/track/{bad}")
        assert (r.status_code, r.json()["error"]) == (401, "invalid_link")
    # A link is not an API token either.
    r = await env.client.get(f"/api/v1/jobs/{jid}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401

    env.clock.advance(hours=73)
    r = await env.client.get(f"/api/v1/track/{token}")
    assert (r.status_code, r.json()["error"]) == (401, "invalid_link")

    fresh = (await link(env, jid))["token"]
    assert (await env.client.get(f"/api/v1/track/{fresh}")).status_code == 200
    r = await env.client.delete(f"/api/v1/jobs/{jid}/tracking-link", headers=env.h("dispatcher"))
    assert r.json() == {"job_id": jid, "revoked": 2}
    assert (await env.client.get(f"/api/v1/track/{fresh}")).status_code == 401


async def test_customers_get_their_view_technicians_contact_only_while_active(env: Env) -> None:
    jid = await to_state(env, "scheduled")
    r = await env.client.get(f"/api/v1/jobs/{jid}", headers=env.h("customer"))
    view = r.json()
    assert view["progress"] == "queued"
    assert "notes" not in view and "insurance" not in view and "customer" not in view
    listing = (await env.client.get("/api/v1/jobs", headers=env.h("customer"))).json()
    assert listing["items"][0]["technician"]["first_name"] == "Marco"

    tech_view = (await env.client.get(f"/api/v1/jobs/{jid}", headers=env.h("tech1"))).json()
    assert tech_view["customer"]["phone"] == "+1 972 555 0199"
    done = await to_state(env, "completed", start=START + timedelta(hours=3))
    closed = (await env.client.get(f"/api/v1/jobs/{done}", headers=env.h("tech1"))).json()
    assert closed["customer"] is None
    office = (await env.client.get(f"/api/v1/jobs/{done}", headers=env.h("dispatcher"))).json()
    assert office["customer"]["name"] == "Alice Moreno"


async def test_idor_attempts_are_refused_and_leave_only_the_denial(env: Env) -> None:
    jid = await to_state(env, "scheduled")  # tech1's job for customer 1
    before = await snapshot(env, jid)
    tables = ("jobs", "audit_entries", "outbox", "events", "photos", "tracking_links")
    counts = [await env.sql(f"SELECT count(*) FROM {t}") for t in tables]
    hidden_before = DENIED.labels(status="404", reason="job_not_found")._value.get()

    assert (await env.client.get(f"/api/v1/jobs/{jid}", headers=env.h("tech2"))).status_code == 404
    assert (
        await env.client.get(f"/api/v1/jobs/{jid}", headers=env.h("customer2"))
    ).status_code == 404
    assert (await act(env, jid, "start_travel", role="tech2")).status_code == 409
    assert (await act(env, jid, "start_travel", role="customer")).status_code == 403
    r = await env.client.post(
        "/api/v1/jobs", json=job_body(env.cast.customer2_id), headers=env.h("customer")
    )
    assert r.status_code == 403
    r = await env.client.get(f"/api/v1/jobs/{jid}/invoice", headers=env.h("customer2"))
    assert r.status_code == 404

    assert await snapshot(env, jid) == before
    assert [await env.sql(f"SELECT count(*) FROM {t}") for t in tables] == counts
    assert DENIED.labels(status="404", reason="job_not_found")._value.get() == hidden_before + 3


async def test_no_link_for_a_cancelled_job(env: Env) -> None:
    jid = await to_state(env, "cancelled")
    r = await env.client.post(f"/api/v1/jobs/{jid}/tracking-link", headers=env.h("dispatcher"))
    assert (r.status_code, r.json()["error"]) == (409, "job_closed")
