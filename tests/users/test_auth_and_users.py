"""Sign-in, token revocation and user administration."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import JWT_KEY, PASSWORD, Env

pytestmark = pytest.mark.anyio


async def _login(env: Env, username: str, password: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = await env.client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )
    return r.status_code, r.json()


async def test_password_login_issues_a_short_lived_bearer_token(env: Env) -> None:
    status, body = await _login(env, "dispatcher", PASSWORD)
    assert status == 200
    assert body["token_type"] == "bearer" and body["expires_in"] == 15 * 60
    me = await env.client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["username"] == "dispatcher" and me.json()["role"] == "dispatcher"


@pytest.mark.parametrize(
    ("username", "password"), [("dispatcher", "wrong-password"), ("ghost", PASSWORD)]
)
async def test_wrong_credentials_are_refused_alike(env: Env, username: str, password: str) -> None:
    status, body = await _login(env, username, password)
    assert (status, body["error"]) == (401, "invalid_credentials")
    assert body["message"] == "wrong username or password"


async def test_expired_tampered_and_missing_tokens_are_refused(env: Env) -> None:
    from routeboard.auth.tokens import issue_token

    uid = env.cast.user_ids["dispatcher"]
    expired = issue_token(
        JWT_KEY,
        user_id=uid,
        role="dispatcher",
        token_version=0,
        minutes=1,
        now=env.clock.now - timedelta(hours=1),
    )
    forged = issue_token(
        "another-key-0123456789abcdef0123456789",
        user_id=uid,
        role="admin",
        token_version=0,
        minutes=5,
        now=env.clock.now,
    )
    for headers, code in (
        ({"Authorization": f"Bearer {expired}"}, "invalid_token"),
        ({"Authorization": f"Bearer {forged}"}, "invalid_token"),
        ({"Authorization": "Bearer not-a-token"}, "invalid_token"),
        ({}, "not_authenticated"),
    ):
        r = await env.client.get("/api/v1/me", headers=headers)
        assert r.status_code == 401
        assert r.json()["error"] == code
        assert r.headers["www-authenticate"] == "Bearer"


async def test_password_change_and_deactivation_revoke_tokens(env: Env) -> None:
    _, body = await _login(env, "tech1", PASSWORD)
    old = {"Authorization": f"Bearer {body['access_token']}"}
    uid = env.cast.user_ids["tech1"]
    r = await env.client.patch(
        f"/api/v1/users/{uid}", json={"password": "a-new-password"}, headers=env.h("admin")
    )
    assert r.status_code == 200
    assert (await env.client.get("/api/v1/me", headers=old)).status_code == 401
    assert (await _login(env, "tech1", PASSWORD))[0] == 401
    status, body = await _login(env, "tech1", "a-new-password")
    assert status == 200
    fresh = {"Authorization": f"Bearer {body['access_token']}"}
    r = await env.client.delete(f"/api/v1/users/{uid}", headers=env.h("admin"))
    assert r.json()["active"] is False
    assert (await env.client.get("/api/v1/me", headers=fresh)).status_code == 401
    assert (await _login(env, "tech1", "a-new-password"))[0] == 401


async def test_admin_manages_users(env: Env) -> None:
    r = await env.client.post(
        "/api/v1/users",
        json={"username": "New.Dispatcher", "password": "long-enough", "role": "dispatcher"},
        headers=env.h("admin"),
    )
    assert r.status_code == 201
    user = r.json()
    assert user["username"] == "new.dispatcher" and "password" not in str(user)
    r = await env.client.post(
        "/api/v1/users",
        json={"username": "new.dispatcher", "password": "long-enough", "role": "dispatcher"},
        headers=env.h("admin"),
    )
    assert (r.status_code, r.json()["error"]) == (409, "username_taken")
    r = await env.client.get("/api/v1/users?limit=2&offset=0", headers=env.h("admin"))
    page = r.json()
    assert (page["total"], len(page["items"]), page["limit"]) == (7, 2, 2)
    r = await env.client.get(f"/api/v1/users/{user['id']}", headers=env.h("admin"))
    assert r.json()["role"] == "dispatcher"


@pytest.mark.parametrize(
    "body",
    [
        {"username": "t", "password": "long-enough", "role": "dispatcher"},
        {"username": "tech9", "password": "short", "role": "dispatcher"},
        {"username": "tech9", "password": "long-enough", "role": "technician"},
        {"username": "tech9", "password": "long-enough", "role": "owner"},
    ],
)
async def test_invalid_users_are_refused_with_422(env: Env, body: dict) -> None:  # type: ignore[type-arg]
    r = await env.client.post("/api/v1/users", json=body, headers=env.h("admin"))
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_input"
    rows = await env.sql("SELECT count(*) FROM users")
    assert rows[0][0] == 6


@pytest.mark.parametrize("role", ["dispatcher", "tech1", "customer"])
async def test_only_admins_manage_users(env: Env, role: str) -> None:
    r = await env.client.get("/api/v1/users", headers=env.h(role))
    assert (r.status_code, r.json()["error"]) == (403, "role_not_allowed")


async def test_an_admin_cannot_deactivate_themselves(env: Env) -> None:
    uid = env.cast.user_ids["admin"]
    r = await env.client.delete(f"/api/v1/users/{uid}", headers=env.h("admin"))
    assert (r.status_code, r.json()["error"]) == (409, "self_deactivation")
