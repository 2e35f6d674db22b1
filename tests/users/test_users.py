"""User administration."""

from __future__ import annotations

import pytest

from tests.conftest import Env

pytestmark = pytest.mark.anyio


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
