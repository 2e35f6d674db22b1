"""Technician and customer records."""

from __future__ import annotations

import pytest

from tests.conftest import Env

pytestmark = pytest.mark.anyio

TECH = {
    "name": "Luis Ortega",
    "phone": "+1 469 555 0144",
    "email": "luis@example.com",
    "skills": ["chip_repair", "adas_calibration"],
    "home_base": {"address": "1400 Preston Rd, Plano, TX", "lat": 33.02, "lon": -96.79},
}


async def test_technician_crud_with_default_hours(env: Env) -> None:
    r = await env.client.post("/api/v1/technicians", json=TECH, headers=env.h("dispatcher"))
    assert r.status_code == 201, r.text
    tech = r.json()
    assert tech["working_hours"] == {
        d: ["08:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")
    }
    assert tech["skills"] == ["adas_calibration", "chip_repair"]
    tid = tech["id"]
    r = await env.client.patch(
        f"/api/v1/technicians/{tid}",
        json={"working_hours": {"sat": ["09:00", "13:00"]}, "skills": ["side_back_glass"]},
        headers=env.h("dispatcher"),
    )
    assert r.json()["working_hours"] == {"sat": ["09:00", "13:00"]}
    r = await env.client.delete(f"/api/v1/technicians/{tid}", headers=env.h("dispatcher"))
    assert r.json()["active"] is False
    r = await env.client.get("/api/v1/technicians?active=true", headers=env.h("dispatcher"))
    assert tid not in [t["id"] for t in r.json()["items"]]
    assert r.json()["total"] == 2


@pytest.mark.parametrize(
    "change",
    [
        {"skills": ["juggling"]},
        {"home_base": {"address": "x", "lat": 95, "lon": 0}},
        {"working_hours": {"mon": ["17:00", "08:00"]}},
        {"email": "not-an-email"},
        {"phone": "call me"},
    ],
)
async def test_invalid_technicians_are_refused(env: Env, change: dict) -> None:  # type: ignore[type-arg]
    r = await env.client.post(
        "/api/v1/technicians", json={**TECH, **change}, headers=env.h("dispatcher")
    )
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_input"
    assert (await env.sql("SELECT count(*) FROM technicians"))[0][0] == 2


async def test_a_technician_reads_only_their_own_record(env: Env) -> None:
    own = await env.client.get(f"/api/v1/technicians/{env.cast.tech1_id}", headers=env.h("tech1"))
    assert own.status_code == 200
    other = await env.client.get(f"/api/v1/technicians/{env.cast.tech2_id}", headers=env.h("tech1"))
    assert (other.status_code, other.json()["error"]) == (404, "technician_not_found")
    listing = await env.client.get("/api/v1/technicians", headers=env.h("tech1"))
    assert listing.status_code == 403


async def test_customer_crud_search_and_own_record(env: Env) -> None:
    r = await env.client.post(
        "/api/v1/customers",
        json={"name": "Carla Nguyen", "email": "carla@example.com", "preferred_channel": "email"},
        headers=env.h("dispatcher"),
    )
    assert r.status_code == 201
    cid = r.json()["id"]
    r = await env.client.get("/api/v1/customers?q=CARLA", headers=env.h("dispatcher"))
    assert [c["id"] for c in r.json()["items"]] == [cid]
    r = await env.client.patch(
        f"/api/v1/customers/{cid}", json={"sms_consent": True}, headers=env.h("dispatcher")
    )
    assert r.json()["sms_consent"] is True
    r = await env.client.post(
        "/api/v1/customers", json={"name": "Nobody"}, headers=env.h("dispatcher")
    )
    assert r.status_code == 422 and "phone number or an email" in r.json()["message"]
    own = await env.client.get(
        f"/api/v1/customers/{env.cast.customer_id}", headers=env.h("customer")
    )
    assert own.json()["name"] == "Alice Moreno"
    other = await env.client.get(
        f"/api/v1/customers/{env.cast.customer2_id}", headers=env.h("customer")
    )
    assert other.status_code == 404
    r = await env.client.delete(f"/api/v1/customers/{cid}", headers=env.h("dispatcher"))
    assert r.json()["active"] is False
