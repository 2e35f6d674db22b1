"""The technician app's day, and actions sent late from a phone's offline queue."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from routeboard.app import prune
from tests.conftest import Env
from tests.flows import START, act, image_bytes, photo, sign, to_state

pytestmark = pytest.mark.anyio


async def day(env: Env, role: str = "tech1") -> dict[str, Any]:
    r = await env.client.get("/api/v1/tech/day", params={"date": "2026-12-01"}, headers=env.h(role))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_the_day_names_each_next_step_and_what_it_still_needs(env: Env) -> None:
    jid = await to_state(env, "in_progress", start=START)
    answer = await day(env)
    assert datetime.fromisoformat(answer["server_time"]) == env.clock()  # for the phone's skew
    [job] = answer["jobs"]
    assert (job["id"], job["next_action"]) == (jid, "complete")
    assert job["missing"] == [
        "1 before photo needed",
        "1 after photo needed",
        "customer signature needed",
    ]
    assert job["navigate_url"].startswith("https://www.google.com/maps/dir/?api=1&destination=")
    assert " " not in job["customer_first_name"]
    assert (await photo(env, jid, "before")).status_code == 201
    assert (await photo(env, jid, "after")).status_code == 201
    assert (await day(env))["jobs"][0]["missing"] == ["customer signature needed"]
    assert (await sign(env, jid)).status_code == 201
    assert (await day(env))["jobs"][0]["missing"] == []
    assert (await act(env, jid, "complete")).status_code == 200
    [done] = (await day(env))["jobs"]
    assert (done["next_action"], done["paid_cents"]) == (None, 0)
    assert done["amount_due_cents"] == 25000  # the deductible
    invoice = await env.client.get(f"/api/v1/jobs/{jid}/invoice", headers=env.h("tech1"))
    assert done["insurer_share_cents"] == invoice.json()["insurer_share_cents"] > 0
    assert (await day(env, "tech2"))["jobs"] == []  # only their own


async def test_a_repeated_key_is_answered_not_applied_twice(env: Env) -> None:
    jid = await to_state(env, "scheduled", start=START)
    headers = env.h("tech1") | {"Idempotency-Key": "tap-0001-start"}
    body = {"action": "start_travel"}
    first = await env.client.post(f"/api/v1/jobs/{jid}/transitions", json=body, headers=headers)
    again = await env.client.post(f"/api/v1/jobs/{jid}/transitions", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    trail = await env.sql("SELECT action FROM audit_entries WHERE job_id = :j", j=jid)
    assert [a for (a,) in trail].count("job.start_travel") == 1
    # The same key for another request is the client's mistake, said so.
    other = await env.client.post(
        f"/api/v1/jobs/{jid}/transitions", json={"action": "start_work"}, headers=headers
    )
    assert (other.status_code, other.json()["error"]) == (409, "idempotency_key_reused")


async def test_kept_answers_are_forgotten_after_a_week(env: Env) -> None:
    jid = await to_state(env, "scheduled", start=START)
    headers = env.h("tech1") | {"Idempotency-Key": "tap-0002-start"}
    r = await env.client.post(
        f"/api/v1/jobs/{jid}/transitions", json={"action": "start_travel"}, headers=headers
    )
    assert r.status_code == 200
    env.clock.advance(days=6)
    await prune(env.app)
    assert len(await env.sql("SELECT id FROM idempotent_requests")) == 1
    env.clock.advance(days=1, seconds=1)
    await prune(env.app)
    assert await env.sql("SELECT id FROM idempotent_requests") == []


async def test_a_photo_resent_is_stored_once(env: Env) -> None:
    jid = await to_state(env, "en_route", start=START)
    headers = env.h("tech1") | {"Idempotency-Key": "photo-0001-before"}
    sent = []
    for _ in range(2):
        r = await env.client.post(
            f"/api/v1/jobs/{jid}/photos",
            files={"file": ("p.jpg", image_bytes(), "image/jpeg")},
            data={"kind": "before"},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        sent.append(r.json())
    assert sent[0] == sent[1]
    assert len(await env.sql("SELECT id FROM photos WHERE job_id = :j", j=jid)) == 1


async def test_an_action_sent_late_keeps_the_time_it_happened(env: Env) -> None:
    jid = await to_state(env, "scheduled", start=START)
    happened = env.clock() - timedelta(minutes=12)
    r = await env.client.post(
        f"/api/v1/jobs/{jid}/transitions",
        json={"action": "start_travel"},
        headers=env.h("tech1") | {"X-Occurred-At": happened.isoformat()},
    )
    assert r.status_code == 200, r.text
    [(at, data)] = await env.sql(
        "SELECT at, data FROM audit_entries WHERE job_id = :j AND action = 'job.start_travel'",
        j=jid,
    )
    stamped = at if isinstance(at, datetime) else datetime.fromisoformat(at)
    assert stamped.replace(tzinfo=None) == happened.replace(tzinfo=None)
    data = data if isinstance(data, dict) else json.loads(data)
    assert datetime.fromisoformat(data["received_at"]) == env.clock()
    [(payload,)] = await env.sql(
        "SELECT payload FROM events WHERE type = 'job.transitioned' AND job_id = :j "
        "ORDER BY id DESC LIMIT 1",
        j=jid,
    )
    payload = payload if isinstance(payload, dict) else json.loads(payload)
    assert payload["delayed_seconds"] == 12 * 60  # the board shows it as delayed


@pytest.mark.parametrize(
    ("offset", "code"),
    [(timedelta(minutes=10), "occurred_in_future"), (-timedelta(days=3), "occurred_too_long_ago")],
)
async def test_an_impossible_time_is_refused(env: Env, offset: timedelta, code: str) -> None:
    jid = await to_state(env, "scheduled", start=START)
    r = await env.client.post(
        f"/api/v1/jobs/{jid}/transitions",
        json={"action": "start_travel"},
        headers=env.h("tech1") | {"X-Occurred-At": (env.clock() + offset).isoformat()},
    )
    assert (r.status_code, r.json()["error"]) == (422, code)
