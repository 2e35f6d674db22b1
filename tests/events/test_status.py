"""Technicians' status: their taps over HTTP or the WebSocket, and their job transitions."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from tests.conftest import Env
from tests.events.live import serving, sse
from tests.flows import act, to_state

pytestmark = pytest.mark.anyio


async def statuses(env: Env, role: str = "dispatcher") -> dict[int, dict[str, object]]:
    r = await env.client.get("/api/v1/availability", headers=env.h(role))
    return {s["technician_id"]: s for s in r.json()}


async def test_transitions_and_taps_set_status_and_last_seen(env: Env) -> None:
    assert (await statuses(env))[env.cast.tech1_id]["status"] == "unknown"
    jid = await to_state(env, "scheduled")
    env.clock.advance(minutes=5)
    await act(env, jid, "start_travel")
    tech1 = (await statuses(env))[env.cast.tech1_id]
    assert tech1["status"] == "en_route"
    assert str(tech1["last_seen_at"]).startswith("2026-12-01T12:05")
    r = await env.client.post(
        f"/api/v1/technicians/{env.cast.tech1_id}/status",
        json={"status": "break"},
        headers=env.h("tech1"),
    )
    assert r.json()["status"] == "break"
    assert list(await statuses(env, "tech2")) == [env.cast.tech2_id]
    r = await env.client.post(
        f"/api/v1/technicians/{env.cast.tech1_id}/status",
        json={"status": "asleep"},
        headers=env.h("tech1"),
    )
    assert r.status_code == 422


async def test_a_technician_reports_status_over_the_websocket_and_the_board_sees_it(
    env: Env,
) -> None:
    token = env.h("tech1")["Authorization"].removeprefix("Bearer ")
    async with serving(env.app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with (
            sse(client, "/api/v1/stream", env.h("dispatcher")) as board,
            sse(client, "/api/v1/stream", env.h("tech2")) as other,
        ):
            first = await board.next()
            assert {t["technician_id"] for t in first.data["technicians"]} == {
                env.cast.tech1_id,
                env.cast.tech2_id,
            }
            assert [t["technician_id"] for t in (await other.next()).data["technicians"]] == [
                env.cast.tech2_id
            ]
            url = base.replace("http", "ws") + f"/api/v1/ws?access_token={token}"
            async with websockets.connect(url) as ws:
                assert json.loads(await ws.recv())["type"] == "snapshot"
                await ws.send(json.dumps({"type": "status", "status": "break"}))
                replies = [json.loads(await asyncio.wait_for(ws.recv(), 3)) for _ in range(2)]
                assert {"type": "ack", "status": "break"} in replies
            msg = await board.next()
            assert (msg.event, msg.data["technician_id"], msg.data["status"]) == (
                "technician.status",
                env.cast.tech1_id,
                "break",
            )
            with pytest.raises(TimeoutError):
                await other.next(timeout=0.5)
