"""Each named guard refuses with its name, and each effect of a transition happens."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import Env
from tests.flows import START, act, approve, create_job, photo, schedule, sign, to_state
from tests.jobs.test_lifecycle import snapshot

pytestmark = pytest.mark.anyio


async def _schedule(env: Env, job_id: int, tech: int | None, start: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = await env.client.post(
        f"/api/v1/jobs/{job_id}/schedule",
        json={"technician_id": tech, "start": start},
        headers=env.h("dispatcher"),
    )
    return r.status_code, r.json()


async def test_scheduling_needs_an_approved_quote(env: Env) -> None:
    jid = await to_state(env, "quoted", approved=False)
    before = await snapshot(env, jid)
    status, body = await _schedule(env, jid, env.cast.tech1_id, START.isoformat())
    assert (status, body["error"]) == (409, "quote_not_approved")
    assert "missing" in body["message"]
    # A draft quote is still not enough.
    r = await env.client.put(
        f"/api/v1/jobs/{jid}/quote",
        json={
            "lines": [{"kind": "fee", "description": "Trip", "quantity": 1, "unit_price_cents": 1}]
        },
        headers=env.h("dispatcher"),
    )
    assert r.status_code == 200
    status, body = await _schedule(env, jid, env.cast.tech1_id, START.isoformat())
    assert (status, body["error"]) == (409, "quote_not_approved")
    assert "draft" in body["message"]
    after = await snapshot(env, jid)
    assert after["job"] == before["job"]


@pytest.mark.parametrize("tech", ["none", "unknown", "inactive"])
async def test_scheduling_needs_an_active_technician(env: Env, tech: str) -> None:
    jid = await to_state(env, "quoted")
    tech_id = {"none": None, "unknown": 999_999, "inactive": env.cast.tech2_id}[tech]
    if tech == "inactive":
        r = await env.client.delete(f"/api/v1/technicians/{tech_id}", headers=env.h("dispatcher"))
        assert r.json()["active"] is False
    before = await snapshot(env, jid)
    status, body = await _schedule(env, jid, tech_id, START.isoformat())
    assert (status, body["error"]) == (409, "no_technician")
    assert await snapshot(env, jid) == before


async def test_scheduling_refuses_an_overlap_and_names_the_other_job(env: Env) -> None:
    first = await to_state(env, "scheduled")  # tech1, 09:00-10:30
    jid = await to_state(env, "quoted")
    before = await snapshot(env, jid)
    status, body = await _schedule(
        env, jid, env.cast.tech1_id, (START + timedelta(hours=1)).isoformat()
    )
    assert (status, body["error"]) == (409, "schedule_overlap")
    assert str(first) in body["message"]
    assert await snapshot(env, jid) == before
    # Back to back is fine, and another technician at the same time is fine.
    status, _ = await _schedule(
        env, jid, env.cast.tech1_id, (START + timedelta(minutes=90)).isoformat()
    )
    assert status == 200
    other = await to_state(env, "quoted")
    status, _ = await _schedule(env, other, env.cast.tech2_id, START.isoformat())
    assert status == 200


async def test_a_cancelled_job_frees_its_time(env: Env) -> None:
    first = await to_state(env, "scheduled")
    r = await act(env, first, "cancel", role="dispatcher", reason="customer sold the car")
    assert r.json()["state"] == "cancelled"
    jid = await to_state(env, "quoted")
    status, _ = await _schedule(env, jid, env.cast.tech1_id, START.isoformat())
    assert status == 200


async def test_rescheduling_moves_the_job_and_queues_a_notice(env: Env) -> None:
    jid = await to_state(env, "scheduled")
    later = START + timedelta(hours=4)
    job = await schedule(env, jid, env.cast.tech2_id, later)
    assert job["state"] == "scheduled"
    assert job["technician_id"] == env.cast.tech2_id
    assert job["scheduled_start"].startswith("2026-12-01T19:00:00")
    kinds = await env.sql("SELECT kind FROM outbox WHERE job_id = :j ORDER BY id", j=jid)
    assert [k for (k,) in kinds] == ["booking_confirmation", "reschedule_notice"]


@pytest.mark.parametrize(
    ("missing", "guard"),
    [
        ("before", "missing_before_photo"),
        ("after", "missing_after_photo"),
        ("signature", "missing_signature"),
    ],
)
async def test_completion_needs_both_photos_and_a_signature(
    env: Env, missing: str, guard: str
) -> None:
    jid = await to_state(env, "in_progress")
    for kind in ("before", "after"):
        if kind != missing:
            assert (await photo(env, jid, kind)).status_code == 201
    if missing != "signature":
        assert (await sign(env, jid)).status_code == 201
    before = await snapshot(env, jid)
    r = await act(env, jid, "complete")
    assert r.status_code == 409
    assert r.json()["error"] == guard
    assert await snapshot(env, jid) == before


async def test_a_technician_moves_only_their_own_jobs(env: Env) -> None:
    jid = await to_state(env, "scheduled")  # assigned to tech1
    before = await snapshot(env, jid)
    r = await act(env, jid, "start_travel", role="tech2")
    assert r.status_code == 409
    assert r.json()["error"] == "not_assigned_technician"
    r = await photo(env, jid, "before", role="tech2")
    assert r.json()["error"] == "not_assigned_technician"
    assert await snapshot(env, jid) == before
    assert (await act(env, jid, "start_travel", role="tech1")).status_code == 200


@pytest.mark.parametrize("action", ["cancel", "unschedule", "invoice"])
async def test_office_actions_are_refused_to_technicians(env: Env, action: str) -> None:
    jid = await to_state(env, "scheduled")
    before = await snapshot(env, jid)
    r = await act(env, jid, action, role="tech1", reason="x")
    assert r.status_code == 403
    assert r.json()["error"] == "role_not_allowed"
    assert await snapshot(env, jid) == before


async def test_cancelling_needs_a_reason(env: Env) -> None:
    jid = await to_state(env, "scheduled")
    for reason in (None, "   "):
        r = await act(env, jid, "cancel", role="dispatcher", reason=reason)
        assert r.status_code == 409
        assert r.json()["error"] == "reason_required"
    r = await act(env, jid, "cancel", role="dispatcher", reason="duplicate booking")
    assert r.json()["cancel_reason"] == "duplicate booking"
    kinds = await env.sql("SELECT kind FROM outbox WHERE job_id = :j ORDER BY id", j=jid)
    assert [k for (k,) in kinds] == ["booking_confirmation", "cancellation_notice"]


async def test_delete_cancels_and_keeps_the_job(env: Env) -> None:
    jid = await to_state(env, "quoted")
    r = await env.client.delete(
        f"/api/v1/jobs/{jid}?reason=entered twice", headers=env.h("dispatcher")
    )
    assert r.status_code == 200
    assert (r.json()["state"], r.json()["cancel_reason"]) == ("cancelled", "entered twice")
    r = await env.client.get(f"/api/v1/jobs/{jid}", headers=env.h("dispatcher"))
    assert r.json()["state"] == "cancelled"


async def test_effects_outbox_labour_clock_and_invoice(env: Env) -> None:
    job = await create_job(env)
    jid = job["id"]
    await approve(env, jid)
    await schedule(env, jid)
    outbox = await env.sql(
        "SELECT kind, channel, status, payload FROM outbox WHERE job_id = :j", j=jid
    )
    assert [(k, c, s) for k, c, s, _ in outbox] == [("booking_confirmation", "sms", "pending")]
    assert (await act(env, jid, "start_travel")).status_code == 200
    kinds = await env.sql("SELECT kind FROM outbox WHERE job_id = :j ORDER BY id", j=jid)
    assert [k for (k,) in kinds] == ["booking_confirmation", "on_my_way"]

    env.clock.advance(minutes=40)
    started = (await act(env, jid, "start_work")).json()
    assert started["labor_started_at"] is not None and started["labor_ended_at"] is None
    for kind in ("before", "after"):
        await photo(env, jid, kind)
    await sign(env, jid)
    r = await env.client.get(f"/api/v1/jobs/{jid}/invoice", headers=env.h("dispatcher"))
    assert (r.status_code, r.json()["error"]) == (404, "invoice_not_found")
    env.clock.advance(minutes=75)
    done = (await act(env, jid, "complete")).json()
    assert done["labor_minutes"] == 75

    invoice = (
        await env.client.get(f"/api/v1/jobs/{jid}/invoice", headers=env.h("dispatcher"))
    ).json()
    # 320 + 120 + 150 = 590.00; 8.25 % tax = 48.675 -> 48.68; total 638.68.
    assert (invoice["subtotal_cents"], invoice["tax_cents"], invoice["total_cents"]) == (
        59000,
        4868,
        63868,
    )
    assert (invoice["customer_share_cents"], invoice["insurer_share_cents"]) == (25000, 38868)
    assert invoice["status"] == "draft" and invoice["number"] is None
    assert [ln["part_number"] for ln in invoice["lines"]] == ["FW04567", None, None]

    issued = (await act(env, jid, "invoice", role="dispatcher")).json()
    assert issued["state"] == "invoiced"
    invoice = (
        await env.client.get(f"/api/v1/jobs/{jid}/invoice", headers=env.h("dispatcher"))
    ).json()
    assert invoice["number"] == "INV-2026-000001"
    assert invoice["status"] == "issued"
    second = await to_state(env, "invoiced", start=START + timedelta(hours=3))
    invoice2 = (
        await env.client.get(f"/api/v1/jobs/{second}/invoice", headers=env.h("dispatcher"))
    ).json()
    assert invoice2["number"] == "INV-2026-000002"


async def test_without_insurance_the_customer_pays_everything(env: Env) -> None:
    job = await create_job(env, insurance=None)
    jid = job["id"]
    await approve(env, jid)
    await schedule(env, jid)
    for action in ("start_travel", "start_work"):
        await act(env, jid, action)
    for kind in ("before", "after"):
        await photo(env, jid, kind)
    await sign(env, jid)
    await act(env, jid, "complete")
    invoice = (
        await env.client.get(f"/api/v1/jobs/{jid}/invoice", headers=env.h("dispatcher"))
    ).json()
    assert (invoice["insurer_share_cents"], invoice["customer_share_cents"]) == (0, 63868)


async def test_unscheduling_clears_the_assignment(env: Env) -> None:
    jid = await to_state(env, "scheduled")
    job = (await act(env, jid, "unschedule", role="dispatcher")).json()
    assert (job["state"], job["technician_id"], job["scheduled_start"]) == ("quoted", None, None)
