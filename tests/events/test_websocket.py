"""The WebSocket twin of the event stream."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.conftest import Env
from tests.events.live import serving
from tests.flows import act, to_state

pytestmark = pytest.mark.anyio


async def test_the_websocket_carries_the_same_events_and_takes_new_filters(env: Env) -> None:
    jid = await to_state(env, "scheduled")
    token = env.h("dispatcher")["Authorization"].removeprefix("Bearer ")
    async with serving(env.app) as base:
        url = base.replace("http", "ws") + f"/api/v1/ws?date=2026-12-01&access_token={token}"
        async with websockets.connect(url) as ws:
            snapshot = json.loads(await ws.recv())
            assert snapshot["type"] == "snapshot"
            assert [j["id"] for j in snapshot["jobs"]] == [jid]
            await act(env, jid, "start_travel")
            events = [json.loads(await asyncio.wait_for(ws.recv(), 3)) for _ in range(2)]
            assert [e["id"] for e in events] == [
                snapshot["last_event_id"] + 1,
                snapshot["last_event_id"] + 2,
            ]
            event = next(e for e in events if e["type"] == "job.transitioned")
            assert (event["job_id"], event["to_state"]) == (jid, "en_route")
            await ws.send(json.dumps({"type": "filter", "date": "2026-12-02"}))
            other_day = json.loads(await asyncio.wait_for(ws.recv(), 3))
            assert (other_day["type"], other_day["jobs"]) == ("snapshot", [])
            await ws.send(json.dumps({"type": "shout"}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 3))
            assert reply["error"] == "unsupported"
