"""Every endpoint × every kind of caller gets the expected status.

The expectations are written here, independently of ``access.PERMISSIONS``; the first tests make
sure this table, the matrix and the OpenAPI schema list the same routes, so a new route without a
row fails.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import websockets

from routeboard.access import PERMISSIONS
from routeboard.app import route_keys
from tests.conftest import PASSWORD, T0, Env
from tests.events.live import serving
from tests.flows import (
    QUOTE,
    START,
    create_job,
    image_bytes,
    job_body,
    next_slot,
    photo,
    to_state,
)

pytestmark = pytest.mark.anyio

CALLERS = [
    "admin", "dispatcher", "tech1", "tech2", "customer", "customer2",
    "device", "integration", "anonymous",
]  # fmt: skip
Request = tuple[str, str, dict[str, Any]]
Setup = Callable[[Env], Awaitable[Request]]


@dataclass(frozen=True)
class Case:
    setup: Setup
    expect: dict[str, int]


def table(ok: int, **overrides: int) -> dict[str, int]:
    base = dict.fromkeys(CALLERS, 403) | {"anonymous": 401}
    return base | overrides | {k: ok for k, v in overrides.items() if v == -1}


def staff(ok: int) -> dict[str, int]:
    return table(ok, admin=ok, dispatcher=ok)


def admin_only(ok: int) -> dict[str, int]:
    return table(ok, admin=ok)


def people(ok: int) -> dict[str, int]:
    return table(ok, admin=ok, dispatcher=ok, tech1=ok, tech2=ok, customer=ok, customer2=ok)


def on_job(ok: int) -> dict[str, int]:
    """Office and the job's own technician and customer; others get 404 as if it did not exist."""
    return table(ok, admin=ok, dispatcher=ok, tech1=ok, tech2=404, customer=ok, customer2=404)


def field_job(ok: int) -> dict[str, int]:
    """Office and the assigned technician; another technician is refused by the named rule."""
    return table(ok, admin=ok, dispatcher=ok, tech1=ok, tech2=409)


def public(ok: int) -> dict[str, int]:
    return dict.fromkeys(CALLERS, ok)


def fixed(method: str, url: str, **kwargs: Any) -> Setup:
    async def setup(env: Env) -> Request:
        return method, url, kwargs

    return setup


async def _job(env: Env, state: str) -> int:
    return await to_state(env, state)


def on(state: str, method: str, suffix: str = "", **kwargs: Any) -> Setup:
    async def setup(env: Env) -> Request:
        jid = await _job(env, state)
        return method, f"/api/v1/jobs/{jid}{suffix}", kwargs

    return setup


def _with_job(state: str, build: Callable[[Env, int], Awaitable[Request]]) -> Setup:
    async def setup(env: Env) -> Request:
        return await build(env, await _job(env, state))

    return setup


async def _refresh(env: Env) -> Request:
    r = await env.client.post(
        "/api/v1/auth/token", data={"username": "dispatcher", "password": PASSWORD}
    )
    return "POST", "/api/v1/auth/refresh", {"json": {"refresh_token": r.json()["refresh_token"]}}


async def _schedule(env: Env) -> Request:
    jid = await to_state(env, "quoted")
    body = {"technician_id": env.cast.tech1_id, "start": next_slot(env).isoformat()}
    return "POST", f"/api/v1/jobs/{jid}/schedule", {"json": body}


async def _approve(env: Env) -> Request:
    jid = (await create_job(env))["id"]
    await env.client.put(f"/api/v1/jobs/{jid}/quote", json=QUOTE, headers=env.h("dispatcher"))
    return "POST", f"/api/v1/jobs/{jid}/quote/approve", {}


async def _photo_content(env: Env, jid: int) -> Request:
    pid = (await photo(env, jid, "before")).json()["id"]
    return "GET", f"/api/v1/jobs/{jid}/photos/{pid}/content", {}


async def _track(env: Env) -> Request:
    jid = await to_state(env, "scheduled")
    r = await env.client.post(f"/api/v1/jobs/{jid}/tracking-link", headers=env.h("dispatcher"))
    return "GET", f"/api/v1/track/{r.json()['token']}", {}


async def _track_stream(env: Env) -> Request:
    env.settings.stream_max_seconds = 0.05
    method, url, kwargs = await _track(env)
    return method, url + "/stream", kwargs


async def _track_done(env: Env, suffix: str, method: str = "GET", **kwargs: Any) -> Request:
    jid = await to_state(env, "completed")
    r = await env.client.post(f"/api/v1/jobs/{jid}/tracking-link", headers=env.h("dispatcher"))
    return method, f"/api/v1/track/{r.json()['token']}{suffix}", kwargs


async def _track_page(env: Env) -> Request:
    _, url, kwargs = await _track(env)
    return "GET", url.replace("/api/v1", ""), kwargs


POLL = {"question": "What should we build next?", "options": ["Route map", "Parts orders"]}


def poll(method: str, suffix: str = "", **kwargs: Any) -> Setup:
    async def setup(env: Env) -> Request:
        r = await env.client.post("/api/v1/polls", json=POLL, headers=env.h("admin"))
        return method, f"/api/v1/polls/{r.json()['id']}{suffix}", kwargs

    return setup


FIELD_OK = {"admin": -1, "dispatcher": -1, "tech1": -1, "tech2": -1}


async def _web_login(env: Env) -> Request:
    page = await env.client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    form = {"username": "dispatcher", "password": PASSWORD, "csrf_token": token.group(1)}
    return "POST", "/login", {"data": form}


USER = {"username": "new.person", "password": "long-enough", "role": "dispatcher"}
TECH = {
    "name": "New Tech", "phone": "+1 214 555 0177", "email": "new@example.com",
    "home_base": {"address": "Plano", "lat": 33.0, "lon": -96.7},
}  # fmt: skip
SIG = {
    "signer_name": "Alice",
    "image_base64": __import__("base64").b64encode(image_bytes("PNG")).decode(),
}
PHOTO = {"files": {"file": ("p.jpg", image_bytes(), "image/jpeg")}, "data": {"kind": "before"}}


def _ids(kind: str) -> Callable[[Env], int]:
    return {
        "tech1": lambda env: env.cast.tech1_id,
        "tech2": lambda env: env.cast.tech2_id,
        "customer": lambda env: env.cast.customer_id,
        "user": lambda env: env.cast.user_ids["customer2"],
    }[kind]


def by_id(method: str, template: str, kind: str, **kwargs: Any) -> Setup:
    async def setup(env: Env) -> Request:
        return method, template.format(_ids(kind)(env)), kwargs

    return setup


BRANCH = {"name": "Frisco", "site": {"address": "Frisco, TX", "lat": 33.15, "lon": -96.82}}


async def _branch(env: Env) -> Request:
    body = {**BRANCH, "name": f"Frisco {uuid.uuid4().hex[:6]}"}  # names are unique
    r = await env.client.post("/api/v1/branches", json=body, headers=env.h("admin"))
    return "PATCH", f"/api/v1/branches/{r.json()['id']}", {"json": {"radius_m": 200}}


async def _ingest(env: Env) -> Request:
    at = "2026-12-01T12:00:00+00:00"
    item = {"event_id": "m1", "technician_id": env.cast.tech1_id, "kind": "heartbeat",
            "recorded_at": at, "source": "app"}  # fmt: skip
    return "POST", "/api/v1/ingest/events", {"json": {"events": [item]}}


def _fix(n: int) -> dict[str, str]:
    from tests.conftest import DEVICE_KEY

    return {"id": DEVICE_KEY, "lat": "33.0", "lon": "-96.7", "timestamp": str(1796126400 + n)}


_fixes = iter(range(1, 1_000_000))


async def _osmand(env: Env) -> Request:
    # The id carries the credential: every caller's request is the device's own fix.
    return "GET", "/api/v1/ingest/osmand", {"params": _fix(next(_fixes))}


async def _osmand_post(env: Env) -> Request:
    return "POST", "/api/v1/ingest/osmand", {"data": _fix(next(_fixes))}


async def _webhook(env: Env) -> Request:
    import hashlib
    import hmac
    import json

    env.settings.webhook_secret = "matrix-secret"
    item = {"event_id": f"w{next(_fixes)}", "technician_id": env.cast.tech1_id,
            "kind": "heartbeat", "recorded_at": T0.isoformat(), "source": "app"}  # fmt: skip
    body = json.dumps(item).encode()
    stamp = str(int(env.clock().timestamp()))
    mac = hmac.new(b"matrix-secret", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"X-Routeboard-Timestamp": stamp, "X-Routeboard-Signature": f"sha256={mac}"}
    return "POST", "/api/v1/ingest/webhook", {"content": body, "headers": headers}


async def _key_id(env: Env) -> Request:
    rows = await env.sql("SELECT id FROM api_keys WHERE scope = 'integration'")
    return "DELETE", f"/api/v1/api-keys/{rows[0][0]}", {}


async def _day() -> Request:
    return "GET", "/api/v1/schedule", {"params": {"date": "2026-12-01"}}


async def _check(env: Env, jid: int) -> Request:
    body = {"job_id": jid, "technician_id": env.cast.tech1_id, "start": START.isoformat()}
    return "POST", "/api/v1/schedule/check", {"json": body}


async def _recommend(env: Env, jid: int) -> Request:
    body = {"job_id": jid, "date_from": "2026-12-01", "date_to": "2026-12-01"}
    return "POST", "/api/v1/schedule/recommend", {"json": body}


async def _optimize(env: Env, jid: int) -> Request:
    body = {"technician_ids": [env.cast.tech1_id], "date": "2026-12-01"}
    return "POST", "/api/v1/schedule/optimize", {"json": body}


async def _apply(env: Env, jid: int) -> Request:
    job = (await env.client.get(f"/api/v1/jobs/{jid}", headers=env.h("admin"))).json()
    start = datetime.fromisoformat(job["scheduled_start"])
    later = start + timedelta(minutes=30)  # test slots are two hours apart, jobs 90 minutes
    move = {
        "job_id": jid, "technician_id": env.cast.tech1_id, "start": later.isoformat(),
        "end": (later + timedelta(minutes=90)).isoformat(), "previous_start": start.isoformat(),
    }  # fmt: skip
    return "POST", "/api/v1/schedule/optimize/apply", {"json": {"moves": [move]}}


async def _stream(env: Env, jid: int) -> Request:
    # A stream ends only when its lifetime runs out: make that instant for the table.
    env.settings.stream_max_seconds = 0.05
    return "GET", "/api/v1/stream", {}


SLOT_QUERY = {
    "lat": 33.1, "lon": -96.8, "service_type": "chip_repair", "duration_minutes": 30,
    "date_from": "2026-12-01", "date_to": "2026-12-01",
}  # fmt: skip

CASES: dict[str, Case] = {
    "GET /healthz": Case(fixed("GET", "/healthz"), public(200)),
    "GET /readyz": Case(fixed("GET", "/readyz"), public(200)),
    "GET /metrics": Case(fixed("GET", "/metrics"), table(200, admin=200, integration=200)),
    "POST /api/v1/auth/token": Case(
        fixed("POST", "/api/v1/auth/token", data={"username": "dispatcher", "password": PASSWORD}),
        public(200),
    ),
    "POST /api/v1/auth/refresh": Case(_refresh, public(200)),
    "POST /api/v1/auth/logout": Case(fixed("POST", "/api/v1/auth/logout"), people(204)),
    "GET /api/v1/me": Case(fixed("GET", "/api/v1/me"), people(200)),
    "POST /api/v1/users": Case(fixed("POST", "/api/v1/users", json=USER), admin_only(201)),
    "GET /api/v1/users": Case(fixed("GET", "/api/v1/users"), admin_only(200)),
    "GET /api/v1/users/{user_id}": Case(by_id("GET", "/api/v1/users/{}", "user"), admin_only(200)),
    "PATCH /api/v1/users/{user_id}": Case(
        by_id("PATCH", "/api/v1/users/{}", "user", json={"active": True}), admin_only(200)
    ),
    "DELETE /api/v1/users/{user_id}": Case(
        by_id("DELETE", "/api/v1/users/{}", "user"), admin_only(200)
    ),
    "POST /api/v1/api-keys": Case(
        fixed("POST", "/api/v1/api-keys", json={"name": "k", "scope": "integration"}),
        admin_only(201),
    ),
    "GET /api/v1/api-keys": Case(fixed("GET", "/api/v1/api-keys"), admin_only(200)),
    # Revoking the integration key first makes that caller's own request a 401.
    "DELETE /api/v1/api-keys/{key_id}": Case(_key_id, admin_only(200) | {"integration": 403}),
    "GET /api/v1/events": Case(fixed("GET", "/api/v1/events"), staff(200)),
    "POST /api/v1/ingest/events": Case(_ingest, table(200, device=200, integration=200)),
    "GET /api/v1/ingest/osmand": Case(_osmand, public(200)),
    "POST /api/v1/ingest/osmand": Case(_osmand_post, public(200)),
    "POST /api/v1/ingest/webhook": Case(_webhook, public(200)),
    "GET /api/v1/ingest/rejected": Case(fixed("GET", "/api/v1/ingest/rejected"), admin_only(200)),
    "POST /api/v1/branches": Case(fixed("POST", "/api/v1/branches", json=BRANCH), admin_only(201)),
    "GET /api/v1/branches": Case(fixed("GET", "/api/v1/branches"), staff(200)),
    "PATCH /api/v1/branches/{branch_id}": Case(_branch, admin_only(200)),
    "POST /api/v1/technicians": Case(fixed("POST", "/api/v1/technicians", json=TECH), staff(201)),
    "GET /api/v1/technicians": Case(fixed("GET", "/api/v1/technicians"), staff(200)),
    "GET /api/v1/technicians/{technician_id}": Case(
        by_id("GET", "/api/v1/technicians/{}", "tech1"),
        table(200, admin=200, dispatcher=200, tech1=200, tech2=404),
    ),
    "PATCH /api/v1/technicians/{technician_id}": Case(
        by_id("PATCH", "/api/v1/technicians/{}", "tech2", json={"phone": "+1 214 555 0100"}),
        staff(200),
    ),
    "DELETE /api/v1/technicians/{technician_id}": Case(
        by_id("DELETE", "/api/v1/technicians/{}", "tech2"), staff(200)
    ),
    "POST /api/v1/customers": Case(
        fixed("POST", "/api/v1/customers", json={"name": "N", "email": "n@example.com"}), staff(201)
    ),
    "GET /api/v1/customers": Case(fixed("GET", "/api/v1/customers"), staff(200)),
    "GET /api/v1/customers/{customer_id}": Case(
        by_id("GET", "/api/v1/customers/{}", "customer"),
        table(200, admin=200, dispatcher=200, customer=200, customer2=404),
    ),
    "PATCH /api/v1/customers/{customer_id}": Case(
        by_id("PATCH", "/api/v1/customers/{}", "customer", json={"sms_consent": False}), staff(200)
    ),
    "DELETE /api/v1/customers/{customer_id}": Case(
        by_id("DELETE", "/api/v1/customers/{}", "customer"), staff(200)
    ),
    "POST /api/v1/jobs": Case(_with_job("quoted", lambda env, _: _post_job(env)), staff(201)),
    "GET /api/v1/jobs": Case(_with_job("scheduled", lambda env, _: _list_jobs()), people(200)),
    "GET /api/v1/jobs/{job_id}": Case(on("scheduled", "GET"), on_job(200)),
    "PATCH /api/v1/jobs/{job_id}": Case(on("scheduled", "PATCH", json={"notes": "n"}), staff(200)),
    "DELETE /api/v1/jobs/{job_id}": Case(on("scheduled", "DELETE"), staff(200)),
    "POST /api/v1/jobs/{job_id}/schedule": Case(_schedule, staff(200)),
    "POST /api/v1/jobs/{job_id}/transitions": Case(
        on("scheduled", "POST", "/transitions", json={"action": "start_travel"}), field_job(200)
    ),
    "GET /api/v1/jobs/{job_id}/quote": Case(on("scheduled", "GET", "/quote"), on_job(200)),
    "PUT /api/v1/jobs/{job_id}/quote": Case(on("quoted", "PUT", "/quote", json=QUOTE), staff(200)),
    "POST /api/v1/jobs/{job_id}/quote/approve": Case(_approve, staff(200)),
    "POST /api/v1/jobs/{job_id}/photos": Case(
        on("in_progress", "POST", "/photos", **PHOTO), field_job(201)
    ),
    "GET /api/v1/jobs/{job_id}/photos": Case(on("in_progress", "GET", "/photos"), on_job(200)),
    "GET /api/v1/jobs/{job_id}/photos/{photo_id}/content": Case(
        _with_job("in_progress", _photo_content), on_job(200)
    ),
    "POST /api/v1/jobs/{job_id}/signature": Case(
        on("in_progress", "POST", "/signature", json=SIG), field_job(201)
    ),
    "GET /api/v1/jobs/{job_id}/invoice": Case(on("completed", "GET", "/invoice"), on_job(200)),
    "POST /api/v1/jobs/{job_id}/payments": Case(
        on("completed", "POST", "/payments", json={"method": "cash"}), field_job(201)
    ),
    "GET /api/v1/jobs/{job_id}/payments": Case(on("completed", "GET", "/payments"), on_job(200)),
    "POST /api/v1/payments/webhook": Case(
        fixed("POST", "/api/v1/payments/webhook", content=b"{}"), public(404)
    ),
    "GET /api/v1/jobs/{job_id}/documents/work-order.pdf": Case(
        on("completed", "GET", "/documents/work-order.pdf"), on_job(200)
    ),
    "GET /api/v1/jobs/{job_id}/documents/invoice.pdf": Case(
        on("completed", "GET", "/documents/invoice.pdf"), on_job(200)
    ),
    "GET /api/v1/jobs/{job_id}/audit": Case(on("scheduled", "GET", "/audit"), staff(200)),
    "POST /api/v1/jobs/{job_id}/tracking-link": Case(
        on("scheduled", "POST", "/tracking-link"), staff(201)
    ),
    "DELETE /api/v1/jobs/{job_id}/tracking-link": Case(
        on("scheduled", "DELETE", "/tracking-link"), staff(200)
    ),
    "GET /api/v1/schedule": Case(
        _with_job("scheduled", lambda env, _: _day()),
        table(200, admin=200, dispatcher=200, tech1=200, tech2=200),
    ),
    "POST /api/v1/schedule/check": Case(_with_job("quoted", _check), staff(200)),
    "POST /api/v1/schedule/recommend": Case(_with_job("quoted", _recommend), staff(200)),
    "GET /api/v1/schedule/slots": Case(
        fixed(
            "GET",
            "/api/v1/schedule/slots",
            params={
                "lat": 33.1,
                "lon": -96.8,
                "service_type": "chip_repair",
                "duration_minutes": 30,
                "date_from": "2026-12-01",
                "date_to": "2026-12-01",
            },
        ),
        table(200, admin=200, dispatcher=200, integration=200),
    ),
    "POST /api/v1/schedule/optimize": Case(_with_job("scheduled", _optimize), staff(200)),
    "POST /api/v1/schedule/optimize/apply": Case(_with_job("scheduled", _apply), staff(200)),
    "GET /api/v1/tech/day": Case(
        fixed("GET", "/api/v1/tech/day"), table(200, tech1=200, tech2=200)
    ),
    "GET /api/v1/availability": Case(
        fixed("GET", "/api/v1/availability"),
        table(200, admin=200, dispatcher=200, tech1=200, tech2=200),
    ),
    "POST /api/v1/technicians/{technician_id}/status": Case(
        by_id("POST", "/api/v1/technicians/{}/status", "tech1", json={"status": "break"}),
        table(200, admin=200, dispatcher=200, tech1=200, tech2=404),
    ),
    "GET /api/v1/stream": Case(_with_job("scheduled", _stream), people(200)),
    # Opened over a real socket below: 101 is the accepted upgrade; a refused handshake is 403.
    "WS /api/v1/ws": Case(fixed("WS", "/api/v1/ws"), people(101) | {"anonymous": 403}),
    "GET /api/v1/track/{token}": Case(_track, public(200)),
    "GET /api/v1/track/{token}/stream": Case(_track_stream, public(200)),
    "POST /api/v1/track/{token}/feedback": Case(
        lambda env: _track_done(env, "/feedback", "POST", json={"kind": "rating", "rating": 5}),
        public(200),
    ),
    "GET /api/v1/track/{token}/invoice.pdf": Case(
        lambda env: _track_done(env, "/invoice.pdf"), public(200)
    ),
    "GET /track/{token}": Case(_track_page, public(200)),
    "GET /api/v1/message-templates": Case(
        fixed("GET", "/api/v1/message-templates"), admin_only(200)
    ),
    "PUT /api/v1/message-templates/{kind}": Case(
        fixed(
            "PUT",
            "/api/v1/message-templates/on_my_way",
            json={"subject": "On the way", "body": "{{ technician }} is coming"},
        ),
        admin_only(200),
    ),
    "DELETE /api/v1/message-templates/{kind}": Case(
        fixed("DELETE", "/api/v1/message-templates/on_my_way"), admin_only(200)
    ),
    "GET /api/v1/outbox": Case(fixed("GET", "/api/v1/outbox"), staff(200)),
    "GET /api/v1/feedback/summary": Case(fixed("GET", "/api/v1/feedback/summary"), admin_only(200)),
    "GET /api/v1/feedback": Case(fixed("GET", "/api/v1/feedback"), admin_only(200)),
    "GET /api/v1/pulse/today": Case(fixed("GET", "/api/v1/pulse/today"), table(200, **FIELD_OK)),
    "POST /api/v1/pulse": Case(
        fixed("POST", "/api/v1/pulse", json={"score": 4}), table(200, **FIELD_OK)
    ),
    "GET /api/v1/polls": Case(fixed("GET", "/api/v1/polls"), table(200, **FIELD_OK)),
    "POST /api/v1/polls": Case(fixed("POST", "/api/v1/polls", json=POLL), admin_only(201)),
    "GET /api/v1/polls/{poll_id}": Case(poll("GET"), table(200, **FIELD_OK)),
    "PATCH /api/v1/polls/{poll_id}": Case(poll("PATCH", json={"open": False}), admin_only(200)),
    "PUT /api/v1/polls/{poll_id}/vote": Case(
        poll("PUT", "/vote", json={"ranking": [1, 0]}), table(200, **FIELD_OK)
    ),
    # No card provider in the test app: there is no demo checkout to show.
    "GET /pay/memory/{reference}": Case(fixed("GET", "/pay/memory/cs_memory_x"), public(404)),
    "POST /pay/memory/{reference}": Case(fixed("POST", "/pay/memory/cs_memory_x"), public(404)),
    "GET /admin/outbox": Case(
        fixed("GET", "/admin/outbox"), public(303) | {"admin": 200, "dispatcher": 200}
    ),
    "GET /admin/templates": Case(fixed("GET", "/admin/templates"), public(303) | {"admin": 200}),
    "GET /admin/feedback": Case(fixed("GET", "/admin/feedback"), public(303) | {"admin": 200}),
    "GET /login": Case(fixed("GET", "/login"), public(200)),
    "POST /login": Case(_web_login, public(303)),
    "POST /logout": Case(fixed("POST", "/logout"), people(303)),
    "GET /": Case(
        fixed("GET", "/"), people(200) | {"device": 303, "integration": 303, "anonymous": 303}
    ),
    # Everyone but the office is sent to sign in (as someone who may use the board).
    "GET /board": Case(fixed("GET", "/board"), public(303) | {"admin": 200, "dispatcher": 200}),
    "GET /tech": Case(fixed("GET", "/tech"), public(303) | {"tech1": 200, "tech2": 200}),
    "GET /tech/sw.js": Case(fixed("GET", "/tech/sw.js"), public(200)),
    "GET /tech/manifest.webmanifest": Case(fixed("GET", "/tech/manifest.webmanifest"), public(200)),
}


async def _list_jobs() -> Request:
    return "GET", "/api/v1/jobs", {}


async def _post_job(env: Env) -> Request:
    return "POST", "/api/v1/jobs", {"json": job_body(env.cast.customer_id)}


async def test_the_table_the_matrix_and_the_application_list_the_same_routes(env: Env) -> None:
    served = route_keys(env.app)
    assert set(CASES) == served, "add a row to CASES and to access.PERMISSIONS for each new route"
    assert set(PERMISSIONS) == served


async def test_every_operation_in_the_openapi_schema_has_a_row(env: Env) -> None:
    schema = (await env.client.get("/openapi.json")).json()
    documented = {f"{m.upper()} {path}" for path, ops in schema["paths"].items() for m in ops}
    assert documented <= set(CASES)


@pytest.mark.parametrize("route", list(CASES))
async def test_matrix(env: Env, route: str) -> None:
    """Every caller against one route, on one database. Each caller the matrix lets through
    gets a request built afresh (a new job, a new link), so one caller's change cannot decide
    another's answer; a caller refused by the role rule reuses the last one built, since the
    refusal comes before any row is read. (One application per route rather than per caller:
    building an application's routes is most of a request's cost in a fresh test app.)"""
    case = CASES[route]
    wrong: list[str] = []
    built: Request | None = None
    # The refused first: an allowed caller's change (a user deactivated, a key revoked) must
    # not turn another caller's 403 into a 401.
    order = sorted(CALLERS, key=lambda c: case.expect[c] not in (401, 403))
    for caller in order:
        expected = case.expect[caller]
        refused = expected in (401, 403) and built is not None and not route.startswith("WS")
        if refused:
            assert built is not None
            method, url, kwargs = built[0], built[1], dict(built[2])
        else:
            method, url, kwargs = await case.setup(env)
            built = (method, url, dict(kwargs))
        if method == "WS":
            status = await _ws_status(env, url, caller)
            if status != expected:
                wrong.append(f"{caller}: {status}, expected {expected}")
            continue
        headers = {**env.h(caller), **kwargs.pop("headers", {})}
        r = await env.client.request(method, url, headers=headers, follow_redirects=False, **kwargs)
        if r.status_code != expected:
            wrong.append(f"{caller}: {r.status_code}, expected {expected}: {r.text[:200]}")
            continue
        if r.status_code >= 400 and r.headers.get("content-type") == "application/json":
            body = r.json()
            if set(body) != {"error", "message", "details"}:
                wrong.append(f"{caller}: error body {sorted(body)}")
            elif refused and body["error"] not in ("not_authenticated", "role_not_allowed"):
                wrong.append(f"{caller}: refused by {body['error']}, not by the role rule")
    assert not wrong, f"{route}:\n" + "\n".join(wrong)


async def _ws_status(env: Env, url: str, caller: str) -> int:
    """101 when the socket opens and sends its snapshot, else the close code."""
    headers = env.h(caller)
    query = ""
    if "Authorization" in headers:
        query = "?access_token=" + headers["Authorization"].removeprefix("Bearer ")
    extra = {"X-API-Key": headers["X-API-Key"]} if "X-API-Key" in headers else {}
    async with serving(env.app) as base:
        target = base.replace("http", "ws") + url + query
        try:
            async with websockets.connect(target, additional_headers=extra) as ws:
                first = json.loads(await asyncio.wait_for(ws.recv(), 3))
                assert first["type"] == "snapshot"
                return 101
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else 1006
        except websockets.InvalidStatus as refused:
            return refused.response.status_code
