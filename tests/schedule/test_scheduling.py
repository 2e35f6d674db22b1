"""Travel-aware scheduling through the API: conflicts in numbers, overrides, recommendations,
slots, the day view with projected lateness, and optimisation."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from routeboard.travel.estimate import Point, estimate
from tests.conftest import Env
from tests.flows import START, act, approve, create_job, schedule

pytestmark = pytest.mark.anyio
TZ = ZoneInfo("America/Chicago")
CITIES = {
    "McKinney": (33.1972, -96.6398),
    "Mesquite": (32.7668, -96.5992),
    "Frisco": (33.1507, -96.8236),
    "Plano": (33.0198, -96.6989),
    "Richardson": (32.9483, -96.7299),
    "Garland": (32.9126, -96.6389),
    "Dallas": (32.7767, -96.7970),
}


def local(hour: int, minute: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=TZ)


async def job_at(env: Env, city: str, minutes: int = 60, **extra: Any) -> int:
    lat, lon = CITIES[city]
    site = {"address": f"1 Main St, {city}, TX", "lat": lat, "lon": lon}
    jid = int((await create_job(env, site=site, duration_minutes=minutes, **extra))["id"])
    await approve(env, jid)
    return jid


async def place(env: Env, jid: int, start: datetime, tech: int | None = None, **extra: Any) -> Any:
    body = {"technician_id": tech or env.cast.tech1_id, "start": start.isoformat(), **extra}
    return await env.client.post(
        f"/api/v1/jobs/{jid}/schedule", json=body, headers=env.h("dispatcher")
    )


async def test_mckinney_then_mesquite_is_refused_with_the_shortfall_then_fits_later(
    env: Env,
) -> None:
    first = await job_at(env, "McKinney")
    assert (await place(env, first, local(9))).status_code == 200
    second = await job_at(env, "Mesquite")
    counts = await env.sql("SELECT count(*) FROM audit_entries WHERE job_id = :j", j=second)

    r = await place(env, second, local(10, 30))
    assert r.status_code == 409
    body = r.json()
    assert body["error"] == "schedule_infeasible"
    [conflict] = body["details"]["conflicts"]
    drive = estimate(Point(*CITIES["McKinney"]), Point(*CITIES["Mesquite"]), local(10, 30)).minutes
    assert 40 <= drive <= 50
    assert conflict["kind"] == "travel"
    assert (conflict["job_id"], conflict["other_job_id"]) == (second, first)
    assert conflict["available_minutes"] == 30.0
    assert conflict["shortfall_minutes"] == pytest.approx(drive - 30, abs=0.1)
    assert conflict["approximate"] is False
    assert await env.sql("SELECT count(*) FROM audit_entries WHERE job_id = :j", j=second) == counts

    ok = await place(env, second, local(11, 15))
    assert ok.status_code == 200, ok.text
    assert ok.json()["override_reason"] is None


async def test_a_dispatcher_may_force_it_and_the_override_is_audited(env: Env) -> None:
    first = await job_at(env, "McKinney")
    await place(env, first, local(9))
    second = await job_at(env, "Mesquite")
    r = await place(env, second, local(10, 30), override_reason="customer agreed to a late start")
    assert r.status_code == 200
    assert r.json()["override_reason"] == "customer agreed to a late start"
    trail = (
        await env.client.get(f"/api/v1/jobs/{second}/audit", headers=env.h("dispatcher"))
    ).json()
    entry = trail["entries"][-1]
    assert entry["reason"] == "customer agreed to a late start"
    assert entry["data"]["override"] is True
    assert entry["data"]["conflicts"][0]["kind"] == "travel"
    day = (
        await env.client.get("/api/v1/schedule?date=2026-12-01", headers=env.h("dispatcher"))
    ).json()
    marco = next(t for t in day["technicians"] if t["technician_id"] == env.cast.tech1_id)
    assert [c["kind"] for c in marco["conflicts"]] == ["travel"]


async def test_check_is_a_dry_run_with_the_same_answer(env: Env) -> None:
    first = await job_at(env, "McKinney")
    await place(env, first, local(9))
    second = await job_at(env, "Mesquite")
    before = await env.sql("SELECT count(*) FROM audit_entries")
    body = {
        "job_id": second,
        "technician_id": env.cast.tech1_id,
        "start": local(10, 30).isoformat(),
    }
    r = await env.client.post("/api/v1/schedule/check", json=body, headers=env.h("dispatcher"))
    result = r.json()
    assert result["feasible"] is False
    assert result["conflicts"][0]["kind"] == "travel"
    body["start"] = local(11, 15).isoformat()
    r = await env.client.post("/api/v1/schedule/check", json=body, headers=env.h("dispatcher"))
    assert r.json()["feasible"] is True
    assert await env.sql("SELECT count(*) FROM audit_entries") == before
    job = (await env.client.get(f"/api/v1/jobs/{second}", headers=env.h("dispatcher"))).json()
    assert job["state"] == "quoted"


async def test_skills_hours_and_windows(env: Env) -> None:
    adas = await job_at(env, "Plano", service_type="adas_calibration")
    r = await place(env, adas, local(9), tech=env.cast.tech2_id)
    assert [c["kind"] for c in r.json()["details"]["conflicts"]] == ["skill"]
    late = await job_at(env, "Plano")
    r = await place(env, late, local(16, 30))
    conflict = r.json()["details"]["conflicts"][0]
    assert (conflict["kind"], conflict["shortfall_minutes"]) == ("outside_hours", 30.0)
    saturday = await job_at(env, "Plano")
    r = await place(env, saturday, local(10, day=5))
    assert r.json()["details"]["conflicts"][0]["kind"] == "outside_hours"
    window = {"start": local(13).isoformat(), "end": local(15).isoformat()}
    windowed = await job_at(env, "Plano", window=window)
    r = await place(env, windowed, local(9))
    conflict = r.json()["details"]["conflicts"][0]
    assert (conflict["kind"], conflict["shortfall_minutes"]) == ("outside_window", 240.0)
    assert (await place(env, windowed, local(13, 30))).status_code == 200


async def test_lengthening_a_job_reports_the_conflict_it_creates_for_the_next(env: Env) -> None:
    first = await job_at(env, "McKinney")
    await place(env, first, local(9))
    second = await job_at(env, "Mesquite")
    await place(env, second, local(11, 15))
    r = await env.client.patch(
        f"/api/v1/jobs/{first}", json={"duration_minutes": 90}, headers=env.h("dispatcher")
    )
    assert r.status_code == 409
    conflict = r.json()["details"]["conflicts"][0]
    assert (conflict["kind"], conflict["job_id"], conflict["other_job_id"]) == (
        "travel",
        first,
        second,
    )
    job = (await env.client.get(f"/api/v1/jobs/{first}", headers=env.h("dispatcher"))).json()
    assert job["duration_minutes"] == 60


async def test_recommendations_are_accepted_by_the_schedule_endpoint(env: Env) -> None:
    for city, hour, tech in (
        ("McKinney", 9, env.cast.tech1_id),
        ("Dallas", 11, env.cast.tech1_id),
        ("Garland", 9, env.cast.tech2_id),
        ("Frisco", 13, env.cast.tech2_id),
    ):
        assert (
            await place(env, await job_at(env, city), local(hour), tech=tech)
        ).status_code == 200
    new = await job_at(env, "Richardson", minutes=90)
    body = {"job_id": new, "date_from": "2026-12-01", "date_to": "2026-12-02", "limit": 10}
    r = await env.client.post("/api/v1/schedule/recommend", json=body, headers=env.h("dispatcher"))
    items = r.json()["items"]
    # One candidate per gap: 3 in each technician's first day, 1 in each empty second day.
    assert len(items) >= 5
    assert items == sorted(items, key=lambda i: (i["start"], i["added_drive_minutes"]))
    assert all("drive in" in i["explanation"] for i in items)
    for item in items:
        check = {"job_id": new, "technician_id": item["technician_id"], "start": item["start"]}
        r = await env.client.post("/api/v1/schedule/check", json=check, headers=env.h("dispatcher"))
        assert r.json()["feasible"] is True, (item, r.json())
    best = items[0]
    assert (
        await place(env, new, datetime.fromisoformat(best["start"]), tech=best["technician_id"])
    ).status_code == 200


async def test_slots_offer_only_reachable_windows(env: Env) -> None:
    params: dict[str, str | float] = {
        "lat": 33.1, "lon": -96.8, "service_type": "chip_repair", "duration_minutes": 45,
        "date_from": "2026-12-05", "date_to": "2026-12-07",
    }  # fmt: skip
    r = await env.client.get("/api/v1/schedule/slots", params=params, headers=env.h("dispatcher"))
    slots = r.json()
    # Saturday 5th and Sunday 6th nobody works; Monday the 7th is open all day.
    assert {datetime.fromisoformat(s["start"]).astimezone(TZ).day for s in slots} == {7}
    assert len(slots) == 4
    assert all(s["technicians"] == 2 for s in slots)
    adas: dict[str, str | float] = {**params, "service_type": "adas_calibration"}
    r = await env.client.get("/api/v1/schedule/slots", params=adas, headers=env.h("dispatcher"))
    assert all(s["technicians"] == 1 for s in r.json())


async def test_the_day_view_projects_lateness_from_where_the_technician_is(env: Env) -> None:
    first = await job_at(env, "Dallas")
    await place(env, first, local(9))
    second = await job_at(env, "Dallas")
    await place(env, second, local(10, 15))
    # Marco leaves the shop only at 09:10 for a 09:00 job in Dallas.
    env.clock.now = local(9, 10).astimezone(UTC)
    assert (await act(env, first, "start_travel")).status_code == 200
    env.clock.now = local(9, 20).astimezone(UTC)
    day = (
        await env.client.get("/api/v1/schedule?date=2026-12-01", headers=env.h("dispatcher"))
    ).json()
    marco = next(t for t in day["technicians"] if t["technician_id"] == env.cast.tech1_id)
    a, b = marco["jobs"]
    drive = estimate(Point(33.0198, -96.6989), Point(*CITIES["Dallas"]), local(8)).minutes
    assert a["drive_minutes_before"] == pytest.approx(drive, abs=0.1)
    assert a["late_minutes"] == pytest.approx(10 + drive, abs=0.2)
    # The next job waits for the first to finish: late by the knock-on delay.
    assert b["projected_arrival"] > b["start"]
    assert b["late_minutes"] == pytest.approx(10 + drive - 15, abs=0.2)
    assert marco["conflicts"] == []
    tech_view = await env.client.get("/api/v1/schedule?date=2026-12-01", headers=env.h("tech2"))
    assert [t["technician_id"] for t in tech_view.json()["technicians"]] == [env.cast.tech2_id]


async def test_optimise_proposes_less_driving_then_apply_rechecks_and_audits(env: Env) -> None:
    order = [("Frisco", 8, 30), ("Mesquite", 10, 0), ("McKinney", 12, 0), ("Dallas", 14, 0)]
    ids = []
    for city, hour, minute in order:
        jid = await job_at(env, city, minutes=45)
        assert (await place(env, jid, local(hour, minute))).status_code == 200
        ids.append(jid)
    # The Dallas job is pinned: its time is promised.
    await env.client.patch(
        f"/api/v1/jobs/{ids[3]}", json={"pinned": True}, headers=env.h("dispatcher")
    )
    body = {"technician_ids": [env.cast.tech1_id], "date": "2026-12-01", "time_limit_seconds": 1}
    r = await env.client.post("/api/v1/schedule/optimize", json=body, headers=env.h("dispatcher"))
    [proposal] = r.json()["technicians"]
    assert proposal["drive_minutes_after"] < proposal["drive_minutes_before"]
    assert proposal["moves"]
    assert ids[3] not in [m["job_id"] for m in proposal["moves"]]
    untouched = await env.sql("SELECT count(*) FROM audit_entries")

    r = await env.client.post(
        "/api/v1/schedule/optimize/apply",
        json={"moves": proposal["moves"]},
        headers=env.h("dispatcher"),
    )
    assert r.status_code == 200, r.text
    assert (await env.sql("SELECT count(*) FROM audit_entries"))[0][0] == untouched[0][0] + len(
        proposal["moves"]
    )
    day = (
        await env.client.get("/api/v1/schedule?date=2026-12-01", headers=env.h("dispatcher"))
    ).json()
    marco = next(t for t in day["technicians"] if t["technician_id"] == env.cast.tech1_id)
    assert marco["conflicts"] == []
    assert marco["drive_minutes"] == pytest.approx(proposal["drive_minutes_after"], abs=0.5)


async def test_apply_refuses_moves_that_no_longer_fit(env: Env) -> None:
    a = await job_at(env, "Plano")
    b = await job_at(env, "Plano")
    await place(env, a, local(9))
    await place(env, b, local(11))
    move = {
        "job_id": a, "technician_id": env.cast.tech1_id, "start": local(11, 30).isoformat(),
        "end": local(12, 30).isoformat(), "previous_start": local(9).isoformat(),
    }  # fmt: skip
    r = await env.client.post(
        "/api/v1/schedule/optimize/apply", json={"moves": [move]}, headers=env.h("dispatcher")
    )
    assert r.status_code == 409
    assert r.json()["details"]["conflicts"][0]["kind"] == "overlap"
    job = (await env.client.get(f"/api/v1/jobs/{a}", headers=env.h("dispatcher"))).json()
    assert job["scheduled_start"].startswith("2026-12-01T15:00:00")


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_whatever_the_api_accepts_re_checks_clean(env: Env, seed: int) -> None:
    """Random placements without override; every accepted day re-checks with no conflicts."""
    rng = random.Random(seed)
    accepted = 0
    for _ in range(25):
        city = rng.choice(list(CITIES))
        jid = await job_at(env, city, minutes=rng.choice([30, 45, 60, 90]))
        start = local(rng.randint(8, 16), rng.choice([0, 15, 30, 45]), day=rng.choice([1, 2]))
        tech = rng.choice([env.cast.tech1_id, env.cast.tech2_id])
        r = await place(env, jid, start, tech=tech)
        assert r.status_code in (200, 409), r.text
        accepted += r.status_code == 200
    assert accepted >= 5
    for day in ("2026-12-01", "2026-12-02"):
        view = (
            await env.client.get(f"/api/v1/schedule?date={day}", headers=env.h("dispatcher"))
        ).json()
        for tech in view["technicians"]:
            assert tech["conflicts"] == [], tech


async def test_start_is_unchanged_by_flows_default(env: Env) -> None:
    jid = (await create_job(env))["id"]
    await approve(env, jid)
    job = await schedule(env, jid)
    assert job["scheduled_start"].startswith(START.strftime("%Y-%m-%dT%H:%M"))
