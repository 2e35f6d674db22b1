"""Sign-in, refresh rotation, revocation, lockout, API keys and the page session with CSRF."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from routeboard.auth.tokens import issue_token
from routeboard.metrics.service import AUTH_EVENTS, DENIED
from tests.conftest import DEVICE_KEY, JWT_KEY, PASSWORD, Env

pytestmark = pytest.mark.anyio


async def login(env: Env, username: str, password: str = PASSWORD) -> Any:
    return await env.client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )


def bearer(body: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {body['access_token']}"}


def count(counter: Any, **labels: str) -> float:
    return float(counter.labels(**labels)._value.get())


async def test_password_login_issues_access_and_refresh_tokens(env: Env) -> None:
    ok_before = count(AUTH_EVENTS, event="login_ok")
    r = await login(env, "dispatcher")
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert body["refresh_expires_in"] == 30 * 86400
    me = await env.client.get("/api/v1/me", headers=bearer(body))
    assert me.json()["username"] == "dispatcher"
    assert count(AUTH_EVENTS, event="login_ok") == ok_before + 1


@pytest.mark.parametrize(
    ("username", "password"), [("dispatcher", "wrong-password"), ("ghost", PASSWORD)]
)
async def test_wrong_credentials_are_refused_alike(env: Env, username: str, password: str) -> None:
    r = await login(env, username, password)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_credentials"
    assert r.json()["message"] == "wrong username or password"


async def test_repeated_failures_lock_the_username_then_it_recovers(env: Env) -> None:
    for _ in range(5):
        assert (await login(env, "tech1", "nope-nope")).status_code == 401
    r = await login(env, "tech1")  # even the right password, while locked
    assert r.status_code == 429
    assert r.json()["error"] == "account_locked"
    assert int(r.headers["retry-after"]) > 0
    # An unknown name locks the same way: no telling who exists.
    for _ in range(5):
        await login(env, "nobody-here", "x-x-x-x-x")
    assert (await login(env, "nobody-here", "x-x-x-x-x")).json()["error"] == "account_locked"
    assert (await login(env, "tech2")).status_code == 200
    env.clock.advance(minutes=16)
    assert (await login(env, "tech1")).status_code == 200


async def test_one_address_spraying_is_throttled(env: Env) -> None:
    env.app.state.login_window.limit = 3
    codes = [(await login(env, f"user{i}", "x-x-x-x-x")).status_code for i in range(5)]
    assert codes == [401, 401, 401, 429, 429]


async def test_expired_forged_and_malformed_tokens_are_refused(env: Env) -> None:
    uid = env.cast.user_ids["dispatcher"]
    sid = "cast-session-dispatcher"
    expired = issue_token(
        JWT_KEY, user_id=uid, role="dispatcher", token_version=0, session_id=sid, minutes=1,
        now=env.clock.now - timedelta(hours=1),
    )  # fmt: skip
    forged = issue_token(
        "another-key-0123456789abcdef0123456789", user_id=uid, role="admin", token_version=0,
        session_id=sid, minutes=5, now=env.clock.now,
    )  # fmt: skip
    denied_before = count(DENIED, status="401", reason="invalid_token")
    for headers, code in (
        ({"Authorization": f"Bearer {expired}"}, "invalid_token"),
        ({"Authorization": f"Bearer {forged}"}, "invalid_token"),
        ({"Authorization": "Bearer not-a-token"}, "invalid_token"),
        ({"X-API-Key": "rbk_ffffffffffff_not-a-real-key-at-all"}, "invalid_api_key"),
        ({}, "not_authenticated"),
    ):
        r = await env.client.get("/api/v1/me", headers=headers)
        assert r.status_code == 401
        assert r.json()["error"] == code
    assert count(DENIED, status="401", reason="invalid_token") == denied_before + 3


async def test_refresh_rotates_and_a_replayed_refresh_token_ends_the_session(env: Env) -> None:
    first = (await login(env, "dispatcher")).json()
    r = await env.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await env.client.get("/api/v1/me", headers=bearer(second))).status_code == 200
    # The old refresh token again: someone copied it. The whole session is revoked.
    r = await env.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert (r.status_code, r.json()["error"]) == (401, "invalid_token")
    assert (await env.client.get("/api/v1/me", headers=bearer(second))).status_code == 401
    r = await env.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert r.status_code == 401


async def test_logout_revokes_access_and_refresh_at_once(env: Env) -> None:
    body = (await login(env, "tech1")).json()
    other = (await login(env, "tech1")).json()
    r = await env.client.post("/api/v1/auth/logout", headers=bearer(body))
    assert r.status_code == 204
    assert (await env.client.get("/api/v1/me", headers=bearer(body))).status_code == 401
    r = await env.client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert r.status_code == 401
    # Another device's session of the same user is untouched.
    assert (await env.client.get("/api/v1/me", headers=bearer(other))).status_code == 200


async def test_password_change_and_deactivation_revoke_every_session(env: Env) -> None:
    body = (await login(env, "tech1")).json()
    uid = env.cast.user_ids["tech1"]
    r = await env.client.patch(
        f"/api/v1/users/{uid}", json={"password": "a-new-password"}, headers=env.h("admin")
    )
    assert r.status_code == 200
    assert (await env.client.get("/api/v1/me", headers=bearer(body))).status_code == 401
    r = await env.client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert r.status_code == 401
    assert (await login(env, "tech1")).status_code == 401
    fresh = (await login(env, "tech1", "a-new-password")).json()
    await env.client.delete(f"/api/v1/users/{uid}", headers=env.h("admin"))
    assert (await env.client.get("/api/v1/me", headers=bearer(fresh))).status_code == 401
    assert (await login(env, "tech1", "a-new-password")).status_code == 401


async def test_api_keys_are_shown_once_stored_hashed_scoped_and_revocable(env: Env) -> None:
    r = await env.client.post(
        "/api/v1/api-keys",
        json={"name": "Dana's phone", "scope": "technician", "technician_id": env.cast.tech2_id},
        headers=env.h("admin"),
    )
    assert r.status_code == 201
    created = r.json()
    value = created["key"]
    assert value.startswith(created["prefix"])
    stored = await env.sql("SELECT key_hash FROM api_keys WHERE id = :i", i=created["id"])
    assert value not in str(stored)
    listing = (await env.client.get("/api/v1/api-keys", headers=env.h("admin"))).json()
    assert all("key" not in k for k in listing["items"])
    # A device key identifies a device, which may not use office endpoints.
    r = await env.client.get("/api/v1/jobs", headers={"X-API-Key": value})
    assert (r.status_code, r.json()["error"]) == (403, "role_not_allowed")
    used = await env.sql("SELECT last_used_at FROM api_keys WHERE id = :i", i=created["id"])
    assert used[0][0] is None  # the refused request rolled back with everything else
    r = await env.client.delete(f"/api/v1/api-keys/{created['id']}", headers=env.h("admin"))
    assert r.json()["revoked_at"] is not None
    r = await env.client.get("/api/v1/jobs", headers={"X-API-Key": value})
    assert (r.status_code, r.json()["error"]) == (401, "invalid_api_key")
    r = await env.client.post(
        "/api/v1/api-keys", json={"name": "x", "scope": "technician"}, headers=env.h("admin")
    )
    assert r.status_code == 422


async def test_metrics_count_auth_and_are_not_public(env: Env) -> None:
    await login(env, "dispatcher", "wrong-password")
    assert (await env.client.get("/metrics")).status_code == 401
    assert (await env.client.get("/metrics", headers=env.h("dispatcher"))).status_code == 403
    r = await env.client.get("/metrics", headers=env.h("admin"))
    assert r.status_code == 200
    assert 'routeboard_auth_events_total{event="login_failed"}' in r.text
    assert "routeboard_denied_requests_total" in r.text
    assert PASSWORD not in r.text
    assert (await env.client.get("/metrics", headers={"X-API-Key": DEVICE_KEY})).status_code == 403
