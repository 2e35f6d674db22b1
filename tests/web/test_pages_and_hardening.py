"""Page sessions with CSRF, security headers, body limits, CORS, and EXIF-free photos."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from routeboard.app import create_app
from routeboard.config import Settings
from tests.conftest import JWT_KEY, PASSWORD, Env
from tests.flows import to_state

pytestmark = pytest.mark.anyio


async def sign_in(env: Env, username: str = "dispatcher", next_url: str = "/") -> httpx.Response:
    page = await env.client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    form = {
        "username": username,
        "password": PASSWORD,
        "csrf_token": token.group(1),
        "next": next_url,
    }
    return await env.client.post("/login", data=form)


async def test_page_sign_in_sets_a_hardened_cookie_and_the_page_carries_csrf(env: Env) -> None:
    r = await sign_in(env)
    assert (r.status_code, r.headers["location"]) == (303, "/")
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("rb_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    home = await env.client.get("/")
    assert home.status_code == 200
    assert "Signed in as <strong>dispatcher</strong>" in home.text
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', home.text)


async def test_cookie_requests_that_change_state_need_the_csrf_token(env: Env) -> None:
    await sign_in(env)
    home = await env.client.get("/")
    match = re.search(r'name="csrf-token" content="([^"]+)"', home.text)
    assert match is not None
    csrf = match.group(1)
    # Reading with the cookie is fine; changing without the token is a forged request.
    assert (await env.client.get("/api/v1/me")).json()["username"] == "dispatcher"
    body = {"name": "Via Page", "email": "page@example.com"}
    r = await env.client.post("/api/v1/customers", json=body)
    assert (r.status_code, r.json()["error"]) == (403, "csrf_failed")
    r = await env.client.post("/api/v1/customers", json=body, headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403
    r = await env.client.post("/api/v1/customers", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    # Signing out through the form revokes the session.
    r = await env.client.post("/logout", data={"csrf_token": csrf})
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    env.client.cookies.clear()
    assert (await env.client.get("/")).status_code == 303


async def test_login_form_needs_its_token_refuses_bad_passwords_and_open_redirects(
    env: Env,
) -> None:
    r = await env.client.post(
        "/login", data={"username": "dispatcher", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert (r.status_code, r.json()["error"]) == (403, "csrf_failed")
    page = await env.client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    r = await env.client.post(
        "/login",
        data={"username": "dispatcher", "password": "nope-nope", "csrf_token": token.group(1)},
    )
    assert r.status_code == 401
    assert "wrong username or password" in r.text
    r = await sign_in(env, next_url="//evil.example/steal")
    assert r.headers["location"] == "/"


async def test_security_headers(env: Env) -> None:
    api = await env.client.get("/healthz")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["x-frame-options"] == "DENY"
    page = await env.client.get("/login")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp


async def test_oversized_bodies_are_refused_before_parsing(env: Env) -> None:
    limit = env.settings.max_body_bytes
    r = await env.client.post(
        "/api/v1/customers",
        content=b"x" * (limit + 1),
        headers={**env.h("dispatcher"), "content-type": "application/json"},
    )
    assert (r.status_code, r.json()["error"]) == (413, "payload_too_large")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    r = await env.client.post(
        "/api/v1/customers",
        content=chunks(),
        headers={**env.h("dispatcher"), "content-type": "application/json"},
    )
    assert (r.status_code, r.json()["error"]) == (413, "payload_too_large")


async def test_cors_only_for_configured_origins(env: Env) -> None:
    settings = Settings(
        database_url=env.settings.effective_database_url,
        data_dir=env.settings.data_dir,
        jwt_secret=JWT_KEY,
        cors_origins=["https://office.example"],
    )
    app = create_app(settings, clock=env.clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        ok = await c.get("/healthz", headers={"Origin": "https://office.example"})
        assert ok.headers["access-control-allow-origin"] == "https://office.example"
        other = await c.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        # The live stream is written outside the middleware and must follow the same rule.
        settings.stream_max_seconds = 0.05
        token = env.h("dispatcher")
        for origin, allowed in (("https://office.example", True), ("https://evil.example", False)):
            r = await c.get("/api/v1/stream", headers={**token, "Origin": origin})
            assert r.status_code == 200
            assert ("access-control-allow-origin" in r.headers) is allowed
    await app.state.engine.dispose()
    plain = await env.client.get("/healthz", headers={"Origin": "https://office.example"})
    assert "access-control-allow-origin" not in plain.headers


def gps_jpeg() -> bytes:
    img = Image.new("RGB", (40, 30), "green")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (33.0, 1.0, 12.0), "W", (96.0, 41.0, 56.0)
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


async def test_customers_receive_photos_without_exif_the_office_gets_the_original(env: Env) -> None:
    jid = await to_state(env, "in_progress")
    original = gps_jpeg()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)
    r = await env.client.post(
        f"/api/v1/jobs/{jid}/photos",
        files={"file": ("p.jpg", original, "image/jpeg")},
        data={"kind": "before"},
        headers=env.h("tech1"),
    )
    pid = r.json()["id"]
    url = f"/api/v1/jobs/{jid}/photos/{pid}/content"
    office = await env.client.get(url, headers=env.h("dispatcher"))
    assert office.content == original
    customer = await env.client.get(url, headers=env.h("customer"))
    assert customer.headers["content-type"] == "image/jpeg"
    stripped = Image.open(io.BytesIO(customer.content))
    assert dict(stripped.getexif()) == {}
    assert stripped.size == (40, 30)
    assert (await env.client.get(url, headers=env.h("customer2"))).status_code == 404
