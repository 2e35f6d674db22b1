"""The live stream as a client sees it: snapshot, events in order, resume, access, keep-alive."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Sequence
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from routeboard.events.board import BoardFilter, apply_event
from routeboard.events.schemas import EventRead, JobCard
from routeboard.events.service import InOrder, prune_events, replay
from routeboard.models import Event
from tests.conftest import Env
from tests.events.live import serving, sse
from tests.flows import START, act, approve, create_job, job_body, next_slot, schedule, to_state

pytestmark = pytest.mark.anyio
TZ = ZoneInfo("America/Chicago")
DAY = date(2026, 12, 1)


async def last_id(env: Env) -> int:
    rows = await env.sql("SELECT coalesce(max(id), 0) FROM events")
    return int(rows[0][0])


async def test_snapshot_then_a_technicians_tap_arrives_with_its_id(env: Env) -> None:
    jid = await to_state(env, "scheduled")
    async with serving(env.app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with sse(client, "/api/v1/stream", env.h("dispatcher"), date=DAY.isoformat()) as s:
            snap = await s.next()
            assert snap.event == "snapshot"
            assert snap.id == await last_id(env)
            assert [j["id"] for j in snap.data["jobs"]] == [jid]
            assert (await act(env, jid, "start_travel")).status_code == 200
            # One tap, one transaction, two events: the job moved and so did its technician.
            first, second = await s.next(), await s.next()
            assert [first.id, second.id] == [snap.id + 1, snap.id + 2]
            msg = next(m for m in (first, second) if m.event == "job.transitioned")
            assert msg.data["to_state"] == "en_route"
            assert msg.data["job"]["state"] == "en_route"
            status = next(m for m in (first, second) if m.event == "technician.status")
            assert status.data["status"] == "en_route"


async def test_resume_gets_exactly_the_missed_events_in_order(env: Env) -> None:
    jid = await to_state(env, "scheduled")
    async with serving(env.app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with sse(client, "/api/v1/stream", env.h("dispatcher"), date=DAY.isoformat()) as s:
            seen = (await s.next()).id
        assert seen is not None
        for n in range(50):
            r = await env.client.patch(
                f"/api/v1/jobs/{jid}", json={"notes": f"call {n}"}, headers=env.h("dispatcher")
            )
            assert r.status_code == 200
        headers = {**env.h("dispatcher"), "Last-Event-ID": str(seen)}
        async with sse(client, "/api/v1/stream", headers, date=DAY.isoformat()) as s:
            missed = await s.until(seen + 50)
            assert [m.id for m in missed] == list(range(seen + 1, seen + 51))
            assert all(m.event == "job.updated" for m in missed)
            with pytest.raises(TimeoutError):
                await s.next(timeout=0.5)


async def test_resuming_from_before_retention_gets_a_snapshot(env: Env) -> None:
    await to_state(env, "scheduled")
    async with env.app.state.sessionmaker() as session, session.begin():
        # As if eight days had passed with seven days of retention.
        assert await prune_events(session, before=env.clock.now + timedelta(days=1)) > 0
    async with serving(env.app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        headers = {**env.h("dispatcher"), "Last-Event-ID": "1"}
        async with sse(client, "/api/v1/stream", headers, date=DAY.isoformat()) as s:
            assert (await s.next()).event == "snapshot"


async def test_snapshot_plus_events_equals_a_fresh_snapshot(env: Env) -> None:
    """Zulip's test: apply every streamed event to the first snapshot; compare with a new one."""
    rng = random.Random(7)
    where = BoardFilter(day=DAY)
    async with serving(env.app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with sse(client, "/api/v1/stream", env.h("dispatcher"), date=DAY.isoformat()) as s:
            first = await s.next()
            board = {j["id"]: JobCard.model_validate(j) for j in first.data["jobs"]}
            jobs: list[int] = []
            for _ in range(30):
                choice = rng.random()
                if choice < 0.3 or not jobs:
                    jid = int((await create_job(env))["id"])
                    await approve(env, jid)
                    jobs.append(jid)
                    continue
                jid = rng.choice(jobs)
                state = (
                    await env.client.get(f"/api/v1/jobs/{jid}", headers=env.h("dispatcher"))
                ).json()["state"]
                if state == "quoted" and env.slots_taken < 4:
                    await schedule(env, jid, start=next_slot(env))
                elif state == "scheduled":
                    action = rng.choice(["start_travel", "unschedule", "cancel"])
                    role = "tech1" if action == "start_travel" else "dispatcher"
                    await act(env, jid, action, role=role, reason="changed plans")
                elif state == "en_route":
                    await act(env, jid, "start_work")
                else:
                    await env.client.patch(
                        f"/api/v1/jobs/{jid}", json={"notes": "n"}, headers=env.h("dispatcher")
                    )
            for msg in await s.until(await last_id(env)):
                event = EventRead.model_validate({"id": msg.id, "event": msg.data}).event
                apply_event(board, event, where, TZ)
        async with sse(client, "/api/v1/stream", env.h("dispatcher"), date=DAY.isoformat()) as s:
            fresh = {j["id"]: JobCard.model_validate(j) for j in (await s.next()).data["jobs"]}
    assert board == fresh
    assert len(fresh) > 3


async def test_technicians_and_customers_only_ever_see_their_own(env: Env) -> None:
    mine = await to_state(env, "scheduled")  # tech1, customer 1
    async with serving(env.app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with (
            sse(client, "/api/v1/stream", env.h("tech2")) as tech2,
            sse(client, "/api/v1/stream", env.h("customer2")) as customer2,
            sse(client, "/api/v1/stream", env.h("customer")) as customer,
        ):
            for stream in (tech2, customer2):
                assert (await stream.next()).data["jobs"] == []
            own = (await customer.next()).data["jobs"]
            assert [j["id"] for j in own] == [mine]
            assert own[0]["override_reason"] is None
            await act(env, mine, "start_travel")
            await env.client.patch(
                f"/api/v1/jobs/{mine}", json={"notes": "gate"}, headers=env.h("dispatcher")
            )
            # Sentinels that each of the other two may see, sent after the private changes.
            r = await env.client.post(
                "/api/v1/jobs", json=job_body(env.cast.customer2_id), headers=env.h("dispatcher")
            )
            other = r.json()["id"]
            await approve(env, other)
            await schedule(env, other, env.cast.tech2_id, START + timedelta(hours=4))
            for stream in (tech2, customer2):
                msg = await stream.next()
                assert msg.data["job_id"] == other, msg
            got = await customer.next()
            assert (got.data["job_id"], got.data["to_state"]) == (mine, "en_route")
            # The customer does not get office-only edits (job.updated).
            with pytest.raises(TimeoutError):
                await customer.next(timeout=0.5)


async def test_heartbeats_and_a_lifetime_cap(env: Env) -> None:
    env.settings.stream_heartbeat_seconds = 0.1
    env.settings.stream_max_seconds = 0.6
    async with serving(env.app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with sse(client, "/api/v1/stream", env.h("dispatcher")) as s:
            assert (await s.next()).event == "snapshot"
            msg = await s.next(timeout=3)
            assert msg.event == "reconnect"
            assert any(c.startswith(": ping") for c in s.comments)
    assert env.app.state.hub.subscribers == set()


async def test_streams_need_credentials_and_close_cleanly(env: Env) -> None:
    r = await env.client.get("/api/v1/stream")
    assert r.status_code == 401
    r = await env.client.get("/api/v1/stream", headers=env.h("device"))
    assert r.status_code == 403
    async with serving(env.app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        for _ in range(20):
            async with sse(client, "/api/v1/stream", env.h("dispatcher")) as s:
                await s.next()
        await asyncio.sleep(0.2)
        assert env.app.state.hub.subscribers == set()


async def test_a_tracking_link_streams_its_job_only_and_revoking_cuts_it(env: Env) -> None:
    env.settings.stream_heartbeat_seconds = 0.1
    mine = await to_state(env, "scheduled")
    other = await to_state(env, "scheduled")
    r = await env.client.post(f"/api/v1/jobs/{mine}/tracking-link", headers=env.h("dispatcher"))
    token = r.json()["token"]
    async with serving(env.app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with sse(client, f"/api/v1/track/{token}/stream", {}) as s:
            snap = await s.next()
            assert [j["id"] for j in snap.data["jobs"]] == [mine]
            await act(env, other, "start_travel")
            await act(env, mine, "start_travel")
            msg = await s.next()
            assert (msg.data["job_id"], msg.data["to_state"]) == (mine, "en_route")
            revoked = await env.client.delete(
                f"/api/v1/jobs/{mine}/tracking-link", headers=env.h("dispatcher")
            )
            assert revoked.json()["revoked"] == 1
            assert (await s.next(timeout=2)).event == "revoked"
            with pytest.raises(EOFError):
                await s.next(timeout=2)
        r = await client.get(f"/api/v1/track/{token}/stream")
        assert (r.status_code, r.json()["error"]) == (401, "invalid_link")


async def test_an_event_overtaken_by_a_later_one_is_still_delivered(env: Env) -> None:
    """Two commits can reach the hub out of id order; neither may be lost (cards are idempotent)."""
    from routeboard.events.schemas import JobUpdated

    jid = await to_state(env, "scheduled")
    async with serving(env.app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with sse(client, "/api/v1/stream", env.h("dispatcher")) as s:
            covered = (await s.next()).id or 0
            hub = env.app.state.hub
            late, early = covered + 2, covered + 1
            for ident in (late, early, late):
                event = JobUpdated(job_id=jid, technician_id=env.cast.tech1_id, fields=["notes"])
                hub.deliver([EventRead(id=ident, event=event)])
            got = [(await s.next()).id, (await s.next()).id]
            assert got == [late, early]
            with pytest.raises(TimeoutError):
                await s.next(timeout=0.3)


async def test_a_client_that_stops_reading_holds_up_no_one_and_is_told_to_reconnect(
    env: Env,
) -> None:
    """Writes to a stalled client go on in the background while every other stream is written
    as before; once it is too far behind, its stream ends with ``reconnect``."""
    from routeboard.events.hub import QUEUE_LIMIT, RECONNECT, Stream
    from routeboard.events.schemas import JobUpdated

    jid = await to_state(env, "scheduled")
    token = env.h("dispatcher")["Authorization"]
    async with serving(env.app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        host, port = base.removeprefix("http://").split(":")
        loop = asyncio.get_running_loop()
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.setblocking(False)
        await loop.sock_connect(raw, (host, int(port)))
        request = f"GET /api/v1/stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: {token}\r\n\r\n"
        await loop.sock_sendall(raw, request.encode())
        head = b""
        while b"event: snapshot" not in head:
            head += await loop.sock_recv(raw, 1 << 16)
        hub = env.app.state.hub
        stalled = next(s for s in hub.subscribers if isinstance(s, Stream))
        # From here on the client reads nothing.
        async with sse(client, "/api/v1/stream", env.h("dispatcher")) as s:
            covered = (await s.next()).id or 0
            big = ["x" * 1000] * 60  # ~60 kB frames: the socket buffers fill after some MB
            n = 0
            while not stalled.busy:
                n += 1
                assert n < 400, "the stalled client's write never had to wait"
                event = JobUpdated(job_id=jid, technician_id=env.cast.tech1_id, fields=big)
                hub.deliver([EventRead(id=covered + n, event=event)])
                assert (await s.next()).id == covered + n  # the reading stream keeps up
            first = n + 1
            small = JobUpdated(job_id=jid, technician_id=env.cast.tech1_id, fields=["notes"])
            last = first + QUEUE_LIMIT
            for n in range(first, last + 1):
                hub.deliver([EventRead(id=covered + n, event=small)])
                if n % 100 == 0:
                    await asyncio.sleep(0.05)  # the reading stream is flushed meanwhile
            assert stalled.ending is not None and not stalled.pending
            got = [m.id for m in await s.until(covered + last)]
            assert got == list(range(covered + first, covered + last + 1))
        rest = b""
        try:
            async with asyncio.timeout(10):
                while not rest.endswith(b"\r\n0\r\n\r\n"):  # the response's last chunk
                    rest += await loop.sock_recv(raw, 1 << 16)
            assert rest.removesuffix(b"\r\n0\r\n\r\n").endswith(RECONNECT)
        finally:
            raw.close()
        await asyncio.sleep(0.1)
        assert not [s for s in hub.subscribers if isinstance(s, Stream)]


async def test_events_in_one_window_go_out_in_one_write(env: Env) -> None:
    from routeboard.events.schemas import JobUpdated

    env.settings.stream_coalesce_ms = 200
    jid = await to_state(env, "scheduled")
    async with serving(env.app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with client.stream("GET", "/api/v1/stream", headers=env.h("dispatcher")) as r:
            chunks = r.aiter_raw()
            opening = b""
            while b"event: snapshot" not in opening:
                opening += await anext(chunks)
            covered = int(opening.split(b"event: snapshot")[0].rsplit(b"id: ", 1)[1].split()[0])
            hub = env.app.state.hub
            for n in range(1, 6):
                event = JobUpdated(job_id=jid, technician_id=env.cast.tech1_id, fields=["notes"])
                hub.deliver([EventRead(id=covered + n, event=event)])
                await asyncio.sleep(0.01)
            chunk = await asyncio.wait_for(anext(chunks), 2)
            assert chunk.count(b"event: job.updated") == 5


async def new_notes(env: Env, jid: int, count: int) -> None:
    """``count`` edits of the job: one event each."""
    for n in range(count):
        r = await env.client.patch(
            f"/api/v1/jobs/{jid}", json={"notes": f"call {n}"}, headers=env.h("dispatcher")
        )
        assert r.status_code == 200


async def test_replay_is_whole_or_not_at_all(env: Env) -> None:
    jid = await to_state(env, "scheduled")
    base = await last_id(env)
    await new_notes(env, jid, 4)
    async with env.app.state.sessionmaker() as session:
        whole = await replay(session, base, limit=4)
        assert whole is not None and [e.id for e in whole] == list(range(base + 1, base + 5))
        # One more than the page: a replay would have a hole, so there is none.
        assert await replay(session, base, limit=3) is None


async def test_resuming_past_ten_thousand_missed_events_gets_a_snapshot(env: Env) -> None:
    """A board away for a long busy spell is not replayed a prefix and then the present."""
    jid = await to_state(env, "scheduled")
    seen = await last_id(env)
    async with env.app.state.sessionmaker() as session, session.begin():
        template = await session.get(Event, seen)
        assert template is not None
        session.add_all(
            Event(
                type=template.type, version=template.version, job_id=template.job_id,
                technician_id=template.technician_id, payload=template.payload,
                created_at=env.clock.now,
            )
            for _ in range(10_001)
        )  # fmt: skip
    newest = await last_id(env)
    assert newest == seen + 10_001
    async with serving(env.app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        headers = {**env.h("dispatcher"), "Last-Event-ID": str(seen)}
        async with sse(client, "/api/v1/stream", headers, date=DAY.isoformat()) as s:
            opening = await s.next()
            assert opening.event == "snapshot"
            assert opening.data["last_event_id"] == newest
            assert [j["id"] for j in opening.data["jobs"]] == [jid]


async def test_a_tracking_link_replays_only_its_own_job(env: Env) -> None:
    """Resuming from 0 on one job's link must not replay the customer's (or anyone's) others."""
    mine = await to_state(env, "scheduled")
    other = await to_state(env, "scheduled", start=START + timedelta(hours=3))
    for jid in (mine, other):
        r = await env.client.patch(
            f"/api/v1/jobs/{jid}", json={"notes": "gate code 1234"}, headers=env.h("dispatcher")
        )
        assert r.status_code == 200
    r = await env.client.post(f"/api/v1/jobs/{mine}/tracking-link", headers=env.h("dispatcher"))
    token = r.json()["token"]
    newest = await last_id(env)
    async with serving(env.app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with sse(client, f"/api/v1/track/{token}/stream", {"Last-Event-ID": "0"}) as s:
            replayed: list[int] = []
            with contextlib.suppress(TimeoutError):
                while True:
                    message = await s.next(timeout=1)
                    assert message.event != "snapshot"
                    replayed.append(int(message.data["job_id"]))
            assert replayed and set(replayed) == {mine}
    assert newest > len(replayed)


async def test_events_reach_the_streams_in_id_order_once_whatever_order_they_come_in(
    env: Env,
) -> None:
    """Two commits may publish in the opposite order (and a bus may drop one): streams get
    41 before 42, each once, and a hole a rolled-back writer left is passed over."""
    jid = await to_state(env, "scheduled")
    start = await last_id(env)
    await new_notes(env, jid, 6)
    async with env.app.state.sessionmaker() as session:
        events = await replay(session, start)
    assert events is not None and len(events) == 6
    e1, e2, e3, e4, e5, e6 = events
    # As if e5's transaction had taken its id and rolled back.
    await env.sql("DELETE FROM events WHERE id = :id", id=e5.id)

    class Streams:
        def __init__(self) -> None:
            self.got: list[int] = []

        def deliver(self, items: Sequence[EventRead]) -> None:
            self.got += [e.id for e in items]

    streams = Streams()
    relay = InOrder(streams, env.app.state.sessionmaker)
    relay.upto = start
    await relay.deliver([e2])  # e1's publish is late: e1 is read from the table first
    await relay.deliver([e1])  # then it arrives, and is not sent twice
    await relay.deliver([e4])  # e3 was lost on the way
    await relay.deliver([e3, e4])
    await relay.deliver([e6])  # the table has no e5: nothing to wait for
    assert streams.got == [e1.id, e2.id, e3.id, e4.id, e6.id]
