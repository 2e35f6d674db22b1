"""The WebSocket twin of the event stream."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from websockets.typing import Origin

from tests.conftest import Env
from tests.events.live import serving
from tests.flows import act, to_state
from tests.web.test_pages_and_hardening import sign_in

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


async def test_a_cross_site_page_cannot_open_the_board_socket_with_our_cookie(env: Env) -> None:
    """Cross-site WebSocket hijacking: the browser attaches our cookie to a socket that
    evil.example opens; the Origin header is what tells them apart."""
    await to_state(env, "scheduled")
    r = await sign_in(env)
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("rb_session="))
    headers = {"Cookie": cookie.split(";", 1)[0]}
    async with serving(env.app) as base:
        url = base.replace("http", "ws") + "/api/v1/ws?date=2026-12-01"
        for evil in ("https://evil.example", "http://127.0.0.1.evil.example"):
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                async with websockets.connect(url, additional_headers=headers, origin=Origin(evil)):
                    pass
            assert refused.value.response.status_code == 403
        # Our own page (same host) and a client that sends no Origin still get the board.
        for origin in (base, None):
            async with websockets.connect(
                url,
                additional_headers=headers,
                origin=origin,  # type: ignore[arg-type]
            ) as ws:
                snapshot = json.loads(await asyncio.wait_for(ws.recv(), 3))
                assert snapshot["type"] == "snapshot"
