"""Customers answer through their link; staff answer the pulse and rank features; the admin
reads it all, in numbers and charts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest

from routeboard.notify.channels import Channel, MemoryChannel
from tests.conftest import Env
from tests.flows import START, act, to_state
from tests.notify.test_worker import worker

pytestmark = pytest.mark.anyio


async def link(env: Env, job_id: int) -> str:
    r = await env.client.post(f"/api/v1/jobs/{job_id}/tracking-link", headers=env.h("dispatcher"))
    return str(r.json()["token"])


async def send(env: Env, token: str, **body: Any) -> Any:
    return await env.client.post(f"/api/v1/track/{token}/feedback", json=body)


async def test_a_rating_waits_for_the_work_and_lands_on_the_trail(env: Env) -> None:
    jid = await to_state(env, "scheduled")
    token = await link(env, jid)
    early = await send(env, token, kind="rating", rating=5)
    assert early.status_code == 409
    assert early.json()["error"] == "job_not_done"
    not_there = await send(env, token, kind="arrival", on_time=True)
    assert not_there.status_code == 409
    assert not_there.json()["error"] == "not_arrived"
    for action in ("start_travel", "start_work"):
        assert (await act(env, jid, action)).status_code == 200
    assert (await send(env, token, kind="arrival", on_time=False)).status_code == 200
    view = (await env.client.get(f"/api/v1/track/{token}")).json()
    assert view["survey"] == {
        "rating_open": False, "arrival_open": True, "rating": None, "comment": "",
        "on_time": False,
    }  # fmt: skip
    done = await to_state(env, "completed")
    token = await link(env, done)
    r = await send(env, token, kind="rating", rating=2, comment="  Late and rude, very unhappy. ")
    assert r.status_code == 200, r.text
    assert r.json()["comment"] == "Late and rude, very unhappy."
    again = await send(env, token, kind="rating", rating=4, comment="Actually the glass is great!")
    assert again.json()["rating"] == 4
    rows = await env.sql("SELECT rating, sentiment FROM feedback WHERE job_id = :j", j=done)
    [(rating, sentiment)] = rows
    assert rating == 4
    assert sentiment > 0.3  # VADER reads the replacement comment as positive
    trail = await env.client.get(f"/api/v1/jobs/{done}/audit", headers=env.h("admin"))
    assert trail.json()["verified"] is True
    actions = [e["action"] for e in trail.json()["entries"]]
    assert actions.count("feedback.rating") == 2
    assert trail.json()["entries"][-1]["actor_role"] == "customer"


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "rating"},
        {"kind": "rating", "rating": 6},
        {"kind": "rating", "rating": 0},
        {"kind": "arrival"},
        {"kind": "stars", "rating": 3},
        {"kind": "rating", "rating": 3, "comment": "x" * 2001},
        {"kind": "rating", "rating": 3, "extra": 1},
    ],
)
async def test_bad_answers_are_refused_with_the_reason(env: Env, body: dict[str, Any]) -> None:
    token = await link(env, await to_state(env, "completed"))
    r = await send(env, token, **body)
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_input"
    assert r.json()["details"]  # which field, and why


async def test_a_revoked_link_takes_no_answers(env: Env) -> None:
    jid = await to_state(env, "completed")
    token = await link(env, jid)
    await env.client.delete(f"/api/v1/jobs/{jid}/tracking-link", headers=env.h("dispatcher"))
    r = await send(env, token, kind="rating", rating=5)
    assert r.status_code == 401
    assert (await env.client.get(f"/api/v1/track/{token}/invoice.pdf")).status_code == 401
    assert await env.sql("SELECT id FROM feedback") == []


async def test_the_page_shows_the_receipt_after_completion(env: Env) -> None:
    jid = await to_state(env, "completed")
    token = await link(env, jid)
    view = (await env.client.get(f"/api/v1/track/{token}")).json()
    receipt = view["receipt"]
    assert receipt["balance_cents"] == receipt["customer_share_cents"] == 25000
    assert receipt["pdf_url"] == f"/api/v1/track/{token}/invoice.pdf"
    assert view["survey"]["rating_open"] is True
    assert view["job"]["progress"] == "done"
    pay = await env.client.post(
        f"/api/v1/jobs/{jid}/payments", json={"method": "cash"}, headers=env.h("tech1")
    )
    assert pay.status_code == 201, pay.text
    view = (await env.client.get(f"/api/v1/track/{token}")).json()
    assert (view["receipt"]["paid_cents"], view["receipt"]["balance_cents"]) == (25000, 0)
    page = await env.client.get(f"/track/{token}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert f'data-token="{token}"' in page.text
    assert (await env.client.get("/track/not-a-token")).status_code == 401


async def test_staff_pulse_one_answer_a_day_each(env: Env) -> None:
    r = await env.client.get("/api/v1/pulse/today", headers=env.h("tech1"))
    assert r.json()["answer"] is None
    assert r.json()["prompt"] == "Was today's schedule realistic?"
    await env.client.post("/api/v1/pulse", json={"score": 2}, headers=env.h("tech1"))
    changed = await env.client.post(
        "/api/v1/pulse", json={"score": 3, "comment": "Too much driving"}, headers=env.h("tech1")
    )
    assert changed.json()["score"] == 3
    await env.client.post("/api/v1/pulse", json={"score": 5}, headers=env.h("dispatcher"))
    today = await env.client.get("/api/v1/pulse/today", headers=env.h("tech1"))
    assert today.json()["answer"]["comment"] == "Too much driving"
    assert len(await env.sql("SELECT id FROM pulse_answers")) == 2
    env.clock.advance(days=1)
    tomorrow = await env.client.get("/api/v1/pulse/today", headers=env.h("tech1"))
    assert tomorrow.json()["answer"] is None
    summary = await env.client.get("/api/v1/feedback/summary", headers=env.h("admin"))
    pulse = {g["role"]: g for g in summary.json()["pulse"]}
    assert pulse["technician"] == {"role": "technician", "answers": 1, "average": 3.0}
    assert pulse["dispatcher"]["average"] == 5.0
    bad = await env.client.post("/api/v1/pulse", json={"score": 9}, headers=env.h("tech1"))
    assert bad.status_code == 422


async def test_a_feature_poll_is_ranked_by_borda_count(env: Env) -> None:
    body = {"question": "What next?", "options": ["Route map", "Parts orders", "Payroll"]}
    created = await env.client.post("/api/v1/polls", json=body, headers=env.h("admin"))
    assert created.status_code == 201
    pid = created.json()["id"]
    for who, ranking in (
        ("tech1", [1, 0, 2]),
        ("tech2", [1, 2]),
        ("dispatcher", [0, 1, 2]),
    ):
        r = await env.client.put(
            f"/api/v1/polls/{pid}/vote", json={"ranking": ranking}, headers=env.h(who)
        )
        assert r.status_code == 200, r.text
    poll = (await env.client.get(f"/api/v1/polls/{pid}", headers=env.h("tech1"))).json()
    # Parts orders 2+2+1 = 5, Route map 1+0+2 = 3, Payroll 0+1+0 = 1.
    assert [(o["option"], o["points"], o["place"]) for o in poll["results"]] == [
        ("Parts orders", 5, 1), ("Route map", 3, 2), ("Payroll", 1, 3),
    ]  # fmt: skip
    assert poll["voters"] == 3
    assert poll["my_ranking"] == [1, 0, 2]
    revote = await env.client.put(
        f"/api/v1/polls/{pid}/vote", json={"ranking": [2]}, headers=env.h("tech1")
    )
    assert revote.json()["voters"] == 3
    for bad in ([0, 0], [5]):
        r = await env.client.put(
            f"/api/v1/polls/{pid}/vote", json={"ranking": bad}, headers=env.h("tech1")
        )
        assert r.status_code == 422
        assert r.json()["error"] == "bad_ranking"
    await env.client.patch(f"/api/v1/polls/{pid}", json={"open": False}, headers=env.h("admin"))
    closed = await env.client.put(
        f"/api/v1/polls/{pid}/vote", json={"ranking": [0]}, headers=env.h("tech2")
    )
    assert closed.status_code == 409
    assert closed.json()["error"] == "poll_closed"
    listed = await env.client.get("/api/v1/polls", params={"open": True}, headers=env.h("tech1"))
    assert listed.json()["total"] == 0
    dup = await env.client.post(
        "/api/v1/polls", json={"question": "Again?", "options": ["A", "a"]}, headers=env.h("admin")
    )
    assert dup.status_code == 422


async def test_the_admin_summary_relates_ratings_to_lateness(env: Env) -> None:
    """Three jobs: on time rated 5, 40 min late rated 3, 80 min late rated 1."""
    for late, rating, comment in ((0, 5, "Wonderful, thank you!"), (40, 3, ""), (80, 1, "Awful")):
        start = START + timedelta(days=late // 40)  # one job per day, each on tech1's 09:00
        env.clock.now = start - timedelta(hours=1)
        jid = await to_state(env, "scheduled", start=start)
        env.clock.now = start + timedelta(minutes=late)
        for action in ("start_travel", "start_work"):
            assert (await act(env, jid, action)).status_code == 200
        await env.sql("UPDATE jobs SET state = 'completed' WHERE id = :j", j=jid)
        r = await send(env, await link(env, jid), kind="rating", rating=rating, comment=comment)
        assert r.status_code == 200, r.text
    summary = await env.client.get(
        "/api/v1/feedback/summary",
        params={"since": "2026-11-30", "until": "2026-12-06"},
        headers=env.h("admin"),
    )
    data = summary.json()
    assert data["responses"] == 3
    assert data["average"] == 3.0
    assert data["rating_vs_lateness"] == pytest.approx(-1.0, abs=0.01)
    assert data["moods"] == {"positive": 1, "neutral": 0, "negative": 1}
    [tech] = data["by_technician"]
    assert (tech["count"], tech["average"]) == (3, 3.0)
    listed = await env.client.get("/api/v1/feedback", headers=env.h("admin"))
    assert [i["rating"] for i in listed.json()["items"]] == [1, 3, 5]
    assert listed.json()["items"][0]["late_minutes"] == 80
    assert listed.json()["items"][0]["mood"] == "negative"
    # The page draws it: one bar per technician, a point per rating.
    page = await env.client.get(
        "/admin/feedback", params={"since": "2026-11-30", "until": "2026-12-06"},
        headers=env.h("admin"),
    )  # fmt: skip
    assert page.status_code == 200
    svgs = [
        ET.fromstring(chunk[: chunk.index("</svg>") + 6])  # noqa: S314  (our own page)
        for chunk in ("<svg" + part for part in page.text.split("<svg")[1:])
    ]
    marks = [len([e for e in svg.iter() if e.get("class") == "mark"]) for svg in svgs]
    assert marks == [1, 1, 3]  # by technician, by week, rating against lateness
    assert "Awful" in page.text
    assert 'id="r-lateness">-1.00<' in page.text
    refused = await env.client.get("/admin/feedback", headers=env.h("dispatcher"))
    assert refused.status_code == 303


async def test_the_response_rate_counts_the_customers_asked(env: Env) -> None:
    """Two customers are asked (the survey goes an hour after the work); one answers. A third,
    never asked, rates from the page: a response, but not one that lifts the rate."""
    env.clock.now = START
    asked = [await to_state(env, "completed") for _ in range(2)]
    channels: dict[str, Channel] = {"sms": MemoryChannel("sms"), "email": MemoryChannel("email")}
    w = worker(env, channels)
    env.clock.advance(minutes=61)
    while await w.run_once():
        pass
    unasked = await to_state(env, "completed")
    for jid in (asked[0], unasked):
        r = await send(env, await link(env, jid), kind="rating", rating=4)
        assert r.status_code == 200
    data = (await env.client.get("/api/v1/feedback/summary", headers=env.h("admin"))).json()
    assert (data["requests"], data["responses"], data["response_rate"]) == (2, 2, 0.5)


async def test_the_same_answer_twice_is_one_entry_and_endless_changes_stop(env: Env) -> None:
    jid = await to_state(env, "completed")
    token = await link(env, jid)
    for _ in range(3):
        assert (await send(env, token, kind="rating", rating=5)).status_code == 200
    trail = (await env.client.get(f"/api/v1/jobs/{jid}/audit", headers=env.h("admin"))).json()
    assert [e["action"] for e in trail["entries"]].count("feedback.rating") == 1
    codes = [
        (await send(env, token, kind="rating", rating=1 + i % 5, comment=str(i))).status_code
        for i in range(25)
    ]
    assert codes.count(200) == 19  # twenty answers in all, then no more
    refused = await send(env, token, kind="rating", rating=3)
    assert refused.status_code == 429
    assert refused.json()["error"] == "too_many_answers"


@pytest.mark.parametrize(
    "params", [{"until": "9999-12-31"}, {"until": "0001-01-10"}, {"since": "1850-01-01"}]
)
async def test_a_summary_outside_the_calendar_is_refused(env: Env, params: dict[str, str]) -> None:
    r = await env.client.get("/api/v1/feedback/summary", params=params, headers=env.h("admin"))
    assert r.status_code == 422
    assert r.json()["error"] == "bad_range"
