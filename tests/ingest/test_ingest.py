"""One normalised stream of availability reports: validated, deduplicated, kept, applied."""

from __future__ import annotations

import collections
import json
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import T0, Env

pytestmark = pytest.mark.anyio
URL = "/api/v1/ingest/events"


def report(env: Env, event_id: str, minutes: float = 0, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "technician_id": env.cast.tech1_id,
        "kind": "location",
        "lat": 33.2,
        "lon": -96.64,
        "accuracy_m": 8,
        "recorded_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "source": "gps",
        **fields,
    }


async def availability(env: Env, technician_id: int) -> dict[str, Any]:
    r = await env.client.get("/api/v1/availability", headers=env.h("dispatcher"))
    return next(t for t in r.json() if t["technician_id"] == technician_id)


async def test_each_report_is_answered_and_nothing_is_lost(env: Env) -> None:
    batch = [
        report(env, "a1"),
        report(env, "a1"),  # the same report twice in one batch
        report(env, "a2", 1, kind="status", status="en_route", lat=None, lon=None),
        report(env, "a3", 2, lat=None),  # half a position
        report(env, "a4", 3, technician_id=999_999),
        report(env, "a5", 4, technician_id=env.cast.tech2_id),
        {"not": "a report"},
    ]
    r = await env.client.post(URL, json={"events": batch}, headers=env.h("integration"))
    assert r.status_code == 200, r.text
    answer = r.json()
    outcomes = [(x["index"], x["outcome"], x["reason"]) for x in answer["results"]]
    assert outcomes == [
        (0, "accepted", None),
        (1, "duplicate", None),
        (2, "accepted", None),
        (3, "rejected", "invalid"),
        (4, "rejected", "unknown_technician"),
        (5, "accepted", None),
        (6, "rejected", "invalid"),
    ]
    assert (answer["accepted"], answer["duplicates"], answer["rejected"]) == (3, 1, 3)
    assert "lat and lon come together" in answer["results"][3]["detail"]
    # Every refused report is kept for an admin, with its reason and payload.
    r = await env.client.get("/api/v1/ingest/rejected", headers=env.h("admin"))
    dead = r.json()["items"]
    assert sorted(d["reason"] for d in dead) == ["invalid", "invalid", "unknown_technician"]
    assert {"not": "a report"} in [d["payload"] for d in dead]
    mine = await availability(env, env.cast.tech1_id)
    assert mine["status"] == "en_route"
    assert (mine["position"]["lat"], mine["position"]["lon"]) == (33.2, -96.64)
    # Retrying the whole batch counts nothing twice.
    r = await env.client.post(URL, json={"events": batch}, headers=env.h("integration"))
    assert r.json()["duplicates"] == 4
    rows = await env.sql("SELECT count(*) FROM availability_events")
    assert rows[0][0] == 3


async def test_a_late_packet_is_kept_without_rewinding_the_present(env: Env) -> None:
    env.clock.advance(hours=1)
    newer = report(env, "n", 10, lat=33.0, lon=-96.8)
    older = report(env, "o", 5, lat=32.7, lon=-96.6)
    for item, applied in ((newer, True), (older, False)):
        r = await env.client.post(URL, json={"events": [item]}, headers=env.h("device"))
        assert r.json()["results"][0] == {
            "index": 0, "event_id": item["event_id"], "outcome": "accepted", "applied": applied,
            "reason": None, "detail": None,
        }  # fmt: skip
    now = await availability(env, env.cast.tech1_id)
    assert (now["position"]["lat"], now["position"]["lon"]) == (33.0, -96.8)
    history = await env.sql("SELECT event_id, applied FROM availability_events ORDER BY id")
    assert [(e, bool(a)) for e, a in history] == [("n", True), ("o", False)]


async def test_a_device_key_reports_for_its_own_technician_only(env: Env) -> None:
    other = report(env, "x", technician_id=env.cast.tech2_id)
    r = await env.client.post(URL, json={"events": [other]}, headers=env.h("device"))
    assert r.json()["results"][0]["reason"] == "technician_scope"
    assert (await availability(env, env.cast.tech2_id))["position"] is None


async def test_one_location_event_per_technician_per_batch_reaches_the_streams(env: Env) -> None:
    env.clock.advance(hours=1)
    batch = [report(env, f"p{i}", i, lat=33.0 + i / 100) for i in range(20)]
    r = await env.client.post(URL, json={"events": batch}, headers=env.h("device"))
    assert r.json()["accepted"] == 20
    rows = await env.sql("SELECT payload FROM events WHERE type = 'technician.location'")
    assert len(rows) == 1
    payload = rows[0][0]
    payload = payload if isinstance(payload, dict) else __import__("json").loads(payload)
    assert payload["lat"] == pytest.approx(33.19)


async def test_batches_are_bounded_and_need_a_device_or_integration_key(env: Env) -> None:
    big = [report(env, f"b{i}") for i in range(1001)]
    r = await env.client.post(URL, json={"events": big}, headers=env.h("integration"))
    assert r.status_code == 422
    r = await env.client.post(URL, json={"events": [report(env, "z")]}, headers=env.h("tech1"))
    assert r.status_code == 403


async def test_a_report_from_the_future_is_refused_while_the_rest_are_stored(env: Env) -> None:
    batch = [
        report(env, "f1", 60 * 24),  # a day ahead of the server
        report(env, "f2", 1, lat=200),
        report(env, "f3", 2, lat="north"),
        42,  # not even an object: refused alone, not the whole batch
        report(env, "ok", 3),
    ]
    r = await env.client.post(URL, json={"events": batch}, headers=env.h("integration"))
    reasons = [x["reason"] for x in r.json()["results"]]
    assert reasons == ["future_timestamp", "invalid", "invalid", "invalid", None]
    rows = await env.sql("SELECT event_id FROM availability_events")
    assert rows == [("ok",)]


async def test_metrics_count_reports_by_source_outcome_and_reason(env: Env) -> None:
    def value(text: str, line: str) -> float:
        found = [x for x in text.splitlines() if x.startswith(line)]
        return float(found[0].rsplit(" ", 1)[1]) if found else 0.0

    accepted = 'routeboard_ingest_reports_total{outcome="accepted",reason="",source="gps"}'
    unknown = (
        'routeboard_ingest_reports_total{outcome="rejected",reason="unknown_technician",'
        'source="gps"}'
    )
    before = (await env.client.get("/metrics", headers=env.h("admin"))).text
    batch = [report(env, "m1"), report(env, "m2", technician_id=999_999)]
    await env.client.post(URL, json={"events": batch}, headers=env.h("integration"))
    after = (await env.client.get("/metrics", headers=env.h("admin"))).text
    assert value(after, accepted) == value(before, accepted) + 1
    assert value(after, unknown) == value(before, unknown) + 1
    assert "routeboard_ingest_lag_seconds_bucket" in after
    assert "routeboard_availability_fresh_ratio" in after


async def test_one_non_finite_number_or_nul_costs_only_its_own_report(env: Env) -> None:
    """PostgreSQL's JSON refuses NaN, Infinity and NUL: a refused report is kept in a form it
    takes, and the other 999 are stored."""
    bad = [
        report(env, "nan", 1, lat=float("nan")),
        report(env, "inf", 1, speed_mps=float("inf")),
        report(env, "attr", 1, attributes={"fix": float("-inf")}),
        report(env, "nul\x00id", 1, attributes={"note": "a\x00b"}),
        {"event_id": "huge", "technician_id": 2**70, "kind": "location"},
    ]
    good = [report(env, f"g{n}", -n / 100) for n in range(995)]
    # json.dumps writes NaN and Infinity as bare words, as a broken tracker would.
    body = json.dumps({"events": [*bad, *good]})
    assert "NaN" in body and "Infinity" in body
    r = await env.client.post(
        URL, content=body,
        headers={**env.h("integration"), "Content-Type": "application/json"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["accepted"] == 995, collections.Counter(x["reason"] for x in answer["results"])
    assert [x["reason"] for x in answer["results"][:5]] == ["invalid"] * 5
    stored = await env.sql("SELECT count(*) FROM availability_events")
    assert stored == [(995,)]
    kept = await env.sql("SELECT event_id FROM rejected_reports ORDER BY id")
    assert [k[0] for k in kept] == ["nan", "inf", "attr", "nulid", "huge"]


async def test_a_report_may_not_carry_megabytes_of_attributes(env: Env) -> None:
    big = report(env, "big", 1, attributes={"blob": "x" * 10_000_000})
    r = await env.client.post(URL, json={"events": [big]}, headers=env.h("integration"))
    assert r.status_code in (200, 413), r.text
    if r.status_code == 200:
        assert r.json()["results"][0]["reason"] == "invalid"
    rows = await env.sql("SELECT count(*) FROM availability_events")
    assert rows == [(0,)]
