"""What tells the customer what: running late (once, unless the estimate moves), on my way with
an ETA, arrived, the receipt, the survey request; and the admin's wording of it all."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import anyio
import pytest

from routeboard.app import watch_lateness
from routeboard.notify.channels import Channel, MemoryChannel
from routeboard.notify.service import MAX_LATE_NOTICES
from tests.availability.test_geofence_flow import METRE, SITE, fixes, geofence_events
from tests.conftest import Env
from tests.flows import START, act, photo, sign, to_state
from tests.notify.test_worker import worker

pytestmark = pytest.mark.anyio


def memory() -> tuple[dict[str, Channel], MemoryChannel]:
    """Both channels in memory; the email one, whose messages the tests read."""
    email = MemoryChannel("email")
    return {"sms": MemoryChannel("sms"), "email": email}, email


async def messages(env: Env, kind: str, job_id: int | None = None) -> list[dict[str, Any]]:
    rows = await env.sql(
        "SELECT job_id, payload, status FROM outbox WHERE kind = :k ORDER BY id", k=kind
    )
    out = []
    for jid, payload, status in rows:
        if job_id is None or jid == job_id:
            body = payload if isinstance(payload, dict) else json.loads(payload)
            out.append({"job_id": jid, "status": status, **body})
    return out


async def projected_arrival(env: Env, job_id: int) -> datetime:
    r = await env.client.get(
        "/api/v1/schedule", params={"date": "2026-12-01"}, headers=env.h("dispatcher")
    )
    items = [j for t in r.json()["technicians"] for j in t["jobs"]]
    return datetime.fromisoformat(
        next(j for j in items if j["job_id"] == job_id)["projected_arrival"]
    )


async def finish(env: Env, job_id: int) -> None:
    for kind in ("before", "after"):
        assert (await photo(env, job_id, kind)).status_code == 201
    assert (await sign(env, job_id)).status_code == 201
    assert (await act(env, job_id, "complete")).status_code == 200


async def test_an_overrun_tells_the_next_customer_once_with_the_projected_arrival(
    env: Env,
) -> None:
    """A simulated day, checked every 5 minutes: the 9:00 job runs long (done 11:25, booked for
    90 min); the 11:00 customer hears once, with the arrival the day's projection gives; the
    13:00 one, reached on time after the catch-up, never."""
    env.clock.now = START
    first = await to_state(env, "in_progress", start=START)
    second = await to_state(env, "scheduled", start=START + timedelta(hours=2))
    third = await to_state(env, "scheduled", start=START + timedelta(hours=4))
    sent_eta: dict[int, datetime] = {}
    while env.clock.now < START + timedelta(hours=4, minutes=30):
        told = await watch_lateness(env.app)
        for jid in told:
            sent_eta[jid] = await projected_arrival(env, jid)
        if env.clock.now == START + timedelta(hours=2, minutes=25):
            await finish(env, first)
            assert (await act(env, second, "start_travel")).status_code == 200
            assert (await act(env, second, "start_work")).status_code == 200
        if env.clock.now == START + timedelta(hours=3, minutes=55):
            await finish(env, second)
            assert (await act(env, third, "start_travel")).status_code == 200
        if env.clock.now == START + timedelta(hours=4):
            assert (await act(env, third, "start_work")).status_code == 200
        env.clock.advance(minutes=5)
    [late] = await messages(env, "running_late")
    assert late["job_id"] == second
    told_eta = datetime.fromisoformat(late["eta"])
    # Told at the first pass past the threshold (10 min past the 11:00 booking).
    assert (
        START + timedelta(hours=2, minutes=10) < told_eta <= START + timedelta(hours=2, minutes=15)
    )
    assert abs(told_eta - sent_eta[second]) <= timedelta(minutes=3)
    assert late["late_minutes"] >= 10
    assert await messages(env, "running_late", third) == []
    # The customer's page now shows the arrival they were told, not the booked time.
    [(eta_after,)] = await env.sql("SELECT late_notice_eta FROM jobs WHERE id = :j", j=second)
    assert eta_after is not None


async def test_a_material_change_tells_them_again_and_small_drift_does_not(env: Env) -> None:
    env.clock.now = START
    first = await to_state(env, "in_progress", start=START)
    second = await to_state(env, "scheduled", start=START + timedelta(hours=2))
    env.clock.now = START + timedelta(hours=2, minutes=15)
    assert await watch_lateness(env.app) == [second]
    env.clock.advance(minutes=10)  # 10 min more: under the 15 min that counts as material
    assert await watch_lateness(env.app) == []
    env.clock.advance(minutes=6)
    assert await watch_lateness(env.app) == [second]
    etas = [datetime.fromisoformat(m["eta"]) for m in await messages(env, "running_late")]
    assert etas == [START + timedelta(hours=2, minutes=15), START + timedelta(hours=2, minutes=31)]
    assert first not in [m["job_id"] for m in await messages(env, "running_late")]
    # The customer's stream heard each new estimate.
    rows = await env.sql("SELECT payload FROM events WHERE type = 'job.eta' ORDER BY id")
    assert len(rows) == 2


async def test_a_job_slipping_all_day_gets_three_notices_not_one_every_quarter_hour(
    env: Env,
) -> None:
    env.clock.now = START
    await to_state(env, "in_progress", start=START)
    second = await to_state(env, "scheduled", start=START + timedelta(hours=2))
    env.clock.now = START + timedelta(hours=2, minutes=15)
    for _ in range(8):
        await watch_lateness(env.app)
        env.clock.advance(minutes=20)
    assert len(await messages(env, "running_late", second)) == MAX_LATE_NOTICES == 3


async def test_two_instances_checking_at_once_tell_the_customer_once(env: Env) -> None:
    env.clock.now = START
    await to_state(env, "in_progress", start=START)
    second = await to_state(env, "scheduled", start=START + timedelta(hours=2))
    env.clock.now = START + timedelta(hours=2, minutes=20)
    results: list[list[int]] = []

    async def check() -> None:
        try:
            results.append(await watch_lateness(env.app))
        except Exception:  # SQLite may refuse the slower writer outright: also fine
            results.append([])

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(check)
        tasks.start_soon(check)
    assert [j for told in results for j in told] == [second]
    assert len(await messages(env, "running_late")) == 1


async def test_on_my_way_says_when_from_where_the_phone_was(env: Env) -> None:
    await env.sql("UPDATE customers SET preferred_channel = 'email'")
    jid = await to_state(env, "scheduled", start=START)
    env.clock.now = START - timedelta(minutes=40)
    # Tapped in McKinney, ~19 km away.
    r = await act(env, jid, "start_travel", lat=33.1972, lon=-96.6398)
    assert r.status_code == 200
    [msg] = await messages(env, "on_my_way")
    eta = datetime.fromisoformat(msg["eta"])
    assert timedelta(minutes=15) < eta - env.clock.now < timedelta(minutes=60)
    track = await env.client.get(f"/api/v1/jobs/{jid}", headers=env.h("customer"))
    assert datetime.fromisoformat(track.json()["eta"]) == eta
    channels, email = memory()
    w = worker(env, channels)
    await w.run_once()
    [mail] = [m for m in email.sent if "on the way" in m.subject]
    local = eta.astimezone(env.settings.tz).strftime("%-I:%M %p")
    assert f"arriving around {local}" in mail.body


async def test_arriving_tells_the_customer_once_and_the_page_says_arrived(env: Env) -> None:
    jid = await to_state(env, "scheduled")
    assert (await act(env, jid, "start_travel")).status_code == 200
    inside = (SITE[0] + 20 * METRE, SITE[1])
    await fixes(env, inside, [0, 70], "in")
    [arrived] = await messages(env, "arrived", jid)
    assert arrived["technician_first_name"]
    link = await env.client.post(f"/api/v1/jobs/{jid}/tracking-link", headers=env.h("dispatcher"))
    view = (await env.client.get(f"/api/v1/track/{link.json()['token']}")).json()
    assert view["job"]["progress"] == "arrived"
    assert view["job"]["eta"] is None
    assert view["survey"]["arrival_open"] is True
    # Driving off and back is not a second arrival.
    await fixes(env, (SITE[0] + 900 * METRE, SITE[1]), [100, 170], "out")
    await fixes(env, inside, [180, 250], "back")
    moves = [e["transition"] for e in await geofence_events(env)]
    assert moves == ["arrive", "depart", "arrive"]
    assert len(await messages(env, "arrived", jid)) == 1


async def test_completion_sends_the_receipt_then_the_survey_an_hour_later(env: Env) -> None:
    await env.sql("UPDATE customers SET preferred_channel = 'email'")
    env.clock.now = START
    jid = await to_state(env, "completed", start=START)
    channels, email = memory()
    w = worker(env, channels)
    await w.run_once()
    subjects = [m.subject for m in email.sent]
    assert "Your receipt from Routeboard Auto Glass" in subjects
    assert "How did we do?" not in subjects  # held back by feedback_delay_minutes
    receipt = next(m for m in email.sent if m.subject.startswith("Your receipt"))
    invoice = (await env.client.get(f"/api/v1/jobs/{jid}/invoice", headers=env.h("admin"))).json()
    assert f"Total ${invoice['total_cents'] / 100:,.2f}" in receipt.body
    assert f"your insurer pays ${invoice['insurer_share_cents'] / 100:,.2f}" in receipt.body
    assert "balance due $250.00" in receipt.body  # the deductible
    url = next(w for w in receipt.body.split() if "/invoice.pdf" in w)
    pdf = await env.client.get(url.removeprefix(env.settings.public_url))
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    env.clock.advance(minutes=61)
    await w.run_once()
    survey = [m for m in email.sent if m.subject == "How did we do?"]
    assert len(survey) == 1
    assert "#survey" in survey[0].body


async def test_an_admin_rewords_a_message_and_a_broken_template_is_refused(env: Env) -> None:
    admin = env.h("admin")
    bad = await env.client.put(
        "/api/v1/message-templates/on_my_way",
        json={"subject": "On the way", "body": "{% if eta %}Around {{ eta }"},
        headers=admin,
    )
    assert bad.status_code == 422
    assert bad.json()["error"] == "template_invalid"
    assert bad.json()["details"]["part"] == "body"
    typo = await env.client.put(
        "/api/v1/message-templates/on_my_way",
        json={"subject": "On the way", "body": "Hi {{ frist_name }}"},
        headers=admin,
    )
    assert typo.status_code == 422
    assert typo.json()["details"]["unknown"] == ["frist_name"]
    for body in (
        "{% for i in range(10) %}x{% endfor %}",
        "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
        "{{ first_name.ljust(500) }}",
        '{{ "x" * 100000000 }}',
        "{{ first_name * 1000 * 1000 }}",
        "{{ 9 ** 9 ** 9 }}",
        "{{ 1 / 0 }}",
    ):
        refused = await env.client.put(
            "/api/v1/message-templates/on_my_way",
            json={"subject": "On the way", "body": body},
            headers=admin,
        )
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["error"] == "template_invalid", body
    ok = await env.client.put(
        "/api/v1/message-templates/on_my_way",
        json={
            "subject": "{{ technician }} is coming",
            "body": "Howdy {{ first_name }}! {{ tracking_url }}",
        },
        headers=admin,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["customized"] is True
    assert ok.json()["preview"].startswith("Howdy Dana!")
    unknown = await env.client.put(
        "/api/v1/message-templates/nope", json={"subject": "a", "body": "b"}, headers=admin
    )
    assert unknown.status_code == 404
    await env.sql("UPDATE customers SET preferred_channel = 'email'")
    jid = await to_state(env, "scheduled", start=START)
    assert (await act(env, jid, "start_travel")).status_code == 200
    channels, email = memory()
    w = worker(env, channels)
    await w.run_once()
    mine = [m for m in email.sent if m.body.startswith("Howdy")]
    assert len(mine) == 1
    assert "/track/" in mine[0].body
    listed = await env.client.get("/api/v1/message-templates", headers=admin)
    kinds = {t["kind"]: t for t in listed.json()}
    assert {"running_late", "arrived", "job_completed", "feedback_request"} <= set(kinds)
    assert kinds["on_my_way"]["customized"] is True
    reset = await env.client.delete("/api/v1/message-templates/on_my_way", headers=admin)
    assert reset.json()["customized"] is False
    assert "is on the" in reset.json()["preview"]


async def test_the_outbox_view_shows_each_attempt(env: Env) -> None:
    await env.sql("UPDATE customers SET preferred_channel = 'email'")
    jid = await to_state(env, "scheduled", start=START)
    channels, email = memory()
    email.fail_next(1, error="SMTP 451 try later")
    w = worker(env, channels)
    await w.run_once()
    env.clock.advance(hours=1)
    await w.run_once()
    r = await env.client.get("/api/v1/outbox", params={"job_id": jid}, headers=env.h("dispatcher"))
    assert r.status_code == 200
    [item] = r.json()["items"]
    assert item["status"] == "sent"
    assert [(a["ok"], a["error"]) for a in item["history"]] == [
        (False, "SMTP 451 try later"),
        (True, None),
    ]
    failed = await env.client.get(
        "/api/v1/outbox", params={"status": "failed"}, headers=env.h("dispatcher")
    )
    assert failed.json()["total"] == 0


async def test_the_office_reads_the_outbox_page_with_each_try(env: Env) -> None:
    await env.sql("UPDATE customers SET preferred_channel = 'email'")
    jid = await to_state(env, "scheduled", start=START)
    channels, email = memory()
    email.fail_next(1, error="SMTP 451 try later")
    await worker(env, channels).run_once()
    page = await env.client.get("/admin/outbox", headers=env.h("dispatcher"))
    assert page.status_code == 200
    assert f"#{jid}" in page.text
    assert "booking confirmation" in page.text
    assert "failed, will retry: SMTP 451 try later" in page.text
    sent_only = await env.client.get(
        "/admin/outbox", params={"status": "sent"}, headers=env.h("dispatcher")
    )
    assert "0 messages sent" in sent_only.text
    assert (await env.client.get("/admin/outbox", headers=env.h("tech1"))).status_code == 303


async def test_a_stale_estimate_en_route_does_not_hide_a_delay(env: Env) -> None:
    """The phone set off at 8:20 with an ETA of ~8:50, then went silent: at 9:30 the customer
    is told (the projection sees the technician cannot be there before now)."""
    jid = await to_state(env, "scheduled", start=START)
    env.clock.now = START - timedelta(minutes=40)
    assert (await act(env, jid, "start_travel", lat=33.1972, lon=-96.6398)).status_code == 200
    env.clock.now = START + timedelta(minutes=30)
    assert await watch_lateness(env.app) == [jid]
    [told] = await messages(env, "running_late", jid)
    assert datetime.fromisoformat(told["eta"]) >= env.clock.now
    link = await env.client.post(f"/api/v1/jobs/{jid}/tracking-link", headers=env.h("dispatcher"))
    view = (await env.client.get(f"/api/v1/track/{link.json()['token']}")).json()
    assert datetime.fromisoformat(view["job"]["eta"]) == datetime.fromisoformat(told["eta"])


async def test_a_new_time_starts_the_notices_again(env: Env) -> None:
    env.clock.now = START
    await to_state(env, "in_progress", start=START)
    second = await to_state(env, "scheduled", start=START + timedelta(hours=2))
    env.clock.now = START + timedelta(hours=2, minutes=15)
    assert await watch_lateness(env.app) == [second]
    later = START + timedelta(hours=4)
    r = await env.client.post(
        f"/api/v1/jobs/{second}/schedule",
        json={"technician_id": env.cast.tech1_id, "start": later.isoformat()},
        headers=env.h("dispatcher"),
    )
    assert r.status_code == 200, r.text
    [(marker,)] = await env.sql("SELECT late_notice_eta FROM jobs WHERE id = :j", j=second)
    assert marker is None
    link = await env.client.post(
        f"/api/v1/jobs/{second}/tracking-link", headers=env.h("dispatcher")
    )
    view = (await env.client.get(f"/api/v1/track/{link.json()['token']}")).json()
    assert datetime.fromisoformat(view["job"]["eta"]) == later


async def test_no_survey_request_once_they_have_rated(env: Env) -> None:
    await env.sql("UPDATE customers SET preferred_channel = 'email'")
    env.clock.now = START
    jid = await to_state(env, "completed", start=START)
    link = await env.client.post(f"/api/v1/jobs/{jid}/tracking-link", headers=env.h("dispatcher"))
    r = await env.client.post(
        f"/api/v1/track/{link.json()['token']}/feedback", json={"kind": "rating", "rating": 5}
    )
    assert r.status_code == 200
    channels, email = memory()
    env.clock.advance(minutes=61)
    w = worker(env, channels)
    while await w.run_once():
        pass
    assert "How did we do?" not in [m.subject for m in email.sent]
    [(status, error)] = await env.sql(
        "SELECT status, last_error FROM outbox WHERE kind = 'feedback_request'"
    )
    assert (status, error) == ("skipped", "already rated")
