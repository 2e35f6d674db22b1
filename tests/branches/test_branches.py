"""Branches: admins open shops, technicians and jobs belong to one, boards narrow to one."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from routeboard.events.board import BoardFilter, apply_event, belongs
from routeboard.events.schemas import EventRead, JobCard
from tests.conftest import Env
from tests.events.live import serving, sse
from tests.flows import START, approve, create_job, schedule

pytestmark = pytest.mark.anyio
TZ = ZoneInfo("America/Chicago")
DAY = date(2026, 12, 1)


def body(name: str) -> dict[str, object]:
    return {"name": name, "site": {"address": f"{name}, TX", "lat": 33.0, "lon": -96.7}}


async def branch(env: Env, name: str) -> int:
    r = await env.client.post("/api/v1/branches", json=body(name), headers=env.h("admin"))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def test_admins_open_list_edit_and_close_branches(env: Env) -> None:
    plano = await branch(env, "Plano")
    await branch(env, "Mesquite")
    r = await env.client.post("/api/v1/branches", json=body("Plano"), headers=env.h("admin"))
    assert (r.status_code, r.json()["error"]) == (409, "branch_exists")
    r = await env.client.post(
        "/api/v1/branches", json={**body("Tiny"), "radius_m": 5}, headers=env.h("admin")
    )
    assert r.status_code == 422
    r = await env.client.get("/api/v1/branches", params={"limit": 1}, headers=env.h("dispatcher"))
    assert (r.json()["total"], [b["name"] for b in r.json()["items"]]) == (2, ["Mesquite"])
    r = await env.client.patch(
        f"/api/v1/branches/{plano}", json={"active": False}, headers=env.h("admin")
    )
    assert r.json()["active"] is False
    r = await env.client.get("/api/v1/branches?active=true", headers=env.h("dispatcher"))
    assert [b["name"] for b in r.json()["items"]] == ["Mesquite"]
    r = await env.client.patch("/api/v1/branches/999999", json={}, headers=env.h("admin"))
    assert r.status_code == 404


async def test_technicians_and_jobs_name_an_open_branch_and_scheduling_follows_the_tech(
    env: Env,
) -> None:
    plano = await branch(env, "Plano")
    url = f"/api/v1/technicians/{env.cast.tech1_id}"
    r = await env.client.patch(url, json={"branch_id": 999999}, headers=env.h("dispatcher"))
    assert (r.status_code, r.json()["error"]) == (422, "unknown_branch")
    r = await env.client.patch(url, json={"branch_id": plano}, headers=env.h("dispatcher"))
    assert r.json()["branch_id"] == plano
    job = await create_job(env)
    assert job["branch_id"] is None
    await approve(env, job["id"])
    scheduled = await schedule(env, job["id"], env.cast.tech1_id, START)
    assert scheduled["branch_id"] == plano
    r = await env.client.post(
        "/api/v1/jobs",
        json={**(await _job_json(env)), "branch_id": 999999},
        headers=env.h("dispatcher"),
    )
    assert (r.status_code, r.json()["error"]) == (422, "unknown_branch")


async def _job_json(env: Env) -> dict[str, object]:
    from tests.flows import job_body

    return job_body(env.cast.customer_id)


async def test_a_branch_board_holds_its_technicians_its_jobs_and_the_unbranched_tray(
    env: Env,
) -> None:
    plano, mesquite = await branch(env, "Plano"), await branch(env, "Mesquite")
    for tech, shop in ((env.cast.tech1_id, plano), (env.cast.tech2_id, mesquite)):
        r = await env.client.patch(
            f"/api/v1/technicians/{tech}", json={"branch_id": shop}, headers=env.h("admin")
        )
        assert r.status_code == 200
    ours, theirs, tray = [await create_job(env) for _ in range(3)]
    for job, tech in ((ours, env.cast.tech1_id), (theirs, env.cast.tech2_id)):
        await approve(env, job["id"])
        await schedule(env, job["id"], tech, START)
    await approve(env, tray["id"])
    headers = env.h("dispatcher")
    params = {"date": DAY.isoformat(), "branch": str(plano)}
    where = BoardFilter(day=DAY, branch_id=plano)
    async with serving(env.app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with sse(client, "/api/v1/stream", headers, **params) as s:
            snap = await s.next()
            assert snap.data["branch"] == plano
            assert [t["technician_id"] for t in snap.data["technicians"]] == [env.cast.tech1_id]
            assert sorted(j["id"] for j in snap.data["jobs"]) == sorted([ours["id"], tray["id"]])
            board = {c["id"]: JobCard.model_validate(c) for c in snap.data["jobs"]}
            # The tray job goes to Mesquite's technician: it leaves Plano's board.
            await schedule(env, tray["id"], env.cast.tech2_id, START.replace(hour=19))
            last = 0
            while True:
                msg = await s.next()
                event = EventRead.model_validate({"id": msg.id, "event": msg.data}).event
                apply_event(board, event, where, TZ)
                last = msg.id or last
                if msg.event == "job.scheduled":
                    break
        async with sse(client, "/api/v1/stream", headers, **params) as fresh:
            again = {c["id"] for c in (await fresh.next()).data["jobs"]}
    assert set(board) == again == {ours["id"]}


def test_belongs_keeps_a_branch_its_own_cards_and_the_unbranched_ones() -> None:
    at = datetime(2026, 12, 1, 15, tzinfo=UTC)
    card = JobCard(
        id=1, state="scheduled", technician_id=3, branch_id=2, customer_id=1,
        service_type="chip_repair", site_address="x", lat=33.0, lon=-96.7, duration_minutes=30,
        scheduled_start=at, scheduled_end=at, window_start=None, window_end=None, pinned=False,
        override_reason=None,
    )  # fmt: skip
    assert belongs(card, BoardFilter(day=DAY, branch_id=2), TZ)
    assert not belongs(card, BoardFilter(day=DAY, branch_id=5), TZ)
    assert belongs(
        card.model_copy(update={"branch_id": None}), BoardFilter(day=DAY, branch_id=5), TZ
    )
    assert belongs(card, BoardFilter(day=DAY), TZ)
