"""The other ways in: GPS tracker apps speaking OsmAnd, and signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from tests.conftest import DEVICE_KEY, INTEGRATION_KEY, T0, Env

pytestmark = pytest.mark.anyio
SECRET = "webhook-secret-for-tests"


def fix(**extra: Any) -> dict[str, Any]:
    stamp = int(T0.timestamp())
    return {"id": DEVICE_KEY, "lat": "33.1972", "lon": "-96.6398", "timestamp": str(stamp),
            "speed": "20", "bearing": "370", "accuracy": "6", "batt": "81", **extra}  # fmt: skip


async def position(env: Env) -> dict[str, Any]:
    r = await env.client.get("/api/v1/availability", headers=env.h("dispatcher"))
    return next(t for t in r.json() if t["technician_id"] == env.cast.tech1_id)


async def test_a_traccar_client_position_lands_once_by_get_or_post(env: Env) -> None:
    r = await env.client.get("/api/v1/ingest/osmand", params=fix())
    assert (r.status_code, r.json()["outcome"]) == (200, "accepted")
    now = await position(env)
    assert now["position"]["lat"] == pytest.approx(33.1972)
    assert now["battery"] == 81
    rows = await env.sql("SELECT speed_mps, heading, recorded_at FROM availability_events")
    speed, heading, _ = rows[0]
    assert speed == pytest.approx(10.289, abs=0.01)  # 20 knots
    assert heading == pytest.approx(10)
    # The same fix again (a tracker retrying) is a duplicate; POST as a form works the same.
    r = await env.client.post("/api/v1/ingest/osmand", data=fix())
    assert r.json()["outcome"] == "duplicate"
    later = fix(timestamp=str(int(T0.timestamp() * 1000) + 60_000), lat="33.2")
    r = await env.client.post("/api/v1/ingest/osmand", data=later)  # milliseconds
    assert r.json()["outcome"] == "accepted"
    assert (await position(env))["position"]["lat"] == pytest.approx(33.2)


async def test_osmand_refuses_unknown_keys_and_bad_fixes_with_reasons(env: Env) -> None:
    r = await env.client.get("/api/v1/ingest/osmand", params=fix(id="rbk_nope"))
    assert (r.status_code, r.json()["error"]) == (401, "invalid_device")
    r = await env.client.get("/api/v1/ingest/osmand", params=fix(id=INTEGRATION_KEY))
    assert (r.status_code, r.json()["error"]) == (403, "not_a_device")
    r = await env.client.get("/api/v1/ingest/osmand", params=fix(lat="91"))
    assert (r.status_code, r.json()["error"]) == (422, "invalid_report")
    assert "lat" in r.json()["message"]
    rows = await env.sql("SELECT reason FROM rejected_reports")
    assert [r[0] for r in rows] == ["invalid"]


def signed(body: bytes, stamp: int, secret: str = SECRET) -> dict[str, str]:
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Routeboard-Timestamp": str(stamp), "X-Routeboard-Signature": f"sha256={mac}"}


def hook_body(env: Env) -> bytes:
    report = {"event_id": "shopmgr-1", "technician_id": env.cast.tech1_id, "kind": "status",
              "status": "break", "recorded_at": T0.isoformat(), "source": "app"}  # fmt: skip
    return json.dumps({"events": [report]}).encode()


async def test_a_signed_webhook_is_applied_and_a_forged_or_stale_one_refused(env: Env) -> None:
    url = "/api/v1/ingest/webhook"
    body = hook_body(env)
    stamp = int(T0.timestamp())
    r = await env.client.post(url, content=body, headers=signed(body, stamp))
    assert (r.status_code, r.json()["error"]) == (404, "webhook_disabled")
    env.settings.webhook_secret = SECRET
    r = await env.client.post(url, content=body, headers=signed(body, stamp, "wrong"))
    assert (r.status_code, r.json()["error"]) == (401, "bad_signature")
    r = await env.client.post(url, content=body, headers=signed(body, stamp - 3600))
    assert (r.status_code, r.json()["error"]) == (401, "stale_signature")
    r = await env.client.post(url, content=body + b" ", headers=signed(body, stamp))
    assert r.status_code == 401
    r = await env.client.post(url, content=body, headers=signed(body, stamp))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    assert (await position(env))["status"] == "break"
    rows = await env.sql("SELECT source FROM availability_events")
    assert rows == [("webhook",)]  # whatever the sender claimed
    junk = b"[1, 2]"
    r = await env.client.post(url, content=junk, headers=signed(junk, stamp))
    assert (r.status_code, r.json()["error"]) == (422, "invalid_webhook")
