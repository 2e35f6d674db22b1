"""Photos and signatures: checked by content, size-limited, stored under generated names."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from tests.conftest import Env
from tests.flows import START, image_bytes, photo, sign, to_state

pytestmark = pytest.mark.anyio


async def test_photo_is_stored_under_a_generated_name_with_its_hash(env: Env) -> None:
    jid = await to_state(env, "in_progress")
    r = await env.client.post(
        f"/api/v1/jobs/{jid}/photos",
        files={"file": ("../../etc/passwd.png", image_bytes("PNG"), "image/png")},
        data={"kind": "before"},
        headers=env.h("tech1"),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["sha256"] == hashlib.sha256(image_bytes("PNG")).hexdigest()
    assert body["content_type"] == "image/png"
    stored = list((env.settings.upload_dir / "photos").iterdir())
    assert len(stored) == 1 and stored[0].read_bytes() == image_bytes("PNG")
    assert "passwd" not in stored[0].name
    listing = await env.client.get(f"/api/v1/jobs/{jid}/photos", headers=env.h("customer"))
    assert [p["kind"] for p in listing.json()] == ["before"]


async def test_not_an_image_and_wrong_kind_are_refused(env: Env) -> None:
    jid = await to_state(env, "in_progress")
    r = await env.client.post(
        f"/api/v1/jobs/{jid}/photos",
        files={"file": ("photo.jpg", b"MZ\x90\x00 definitely not a jpeg", "image/jpeg")},
        data={"kind": "before"},
        headers=env.h("tech1"),
    )
    assert (r.status_code, r.json()["error"]) == (422, "invalid_image")
    r = await env.client.post(
        f"/api/v1/jobs/{jid}/photos",
        files={"file": ("a.gif", image_bytes("GIF"), "image/gif")},
        data={"kind": "before"},
        headers=env.h("tech1"),
    )
    assert (r.status_code, r.json()["error"]) == (422, "invalid_image")
    r = await env.client.post(
        f"/api/v1/jobs/{jid}/photos",
        files={"file": ("a.jpg", image_bytes(), "image/jpeg")},
        data={"kind": "during"},
        headers=env.h("tech1"),
    )
    assert r.status_code == 422
    assert (await env.sql("SELECT count(*) FROM photos"))[0][0] == 0


async def test_oversized_photo_is_refused_with_413(env: Env) -> None:
    jid = await to_state(env, "in_progress")
    big = b"\xff\xd8" + b"0" * (env.settings.max_upload_bytes + 10)
    r = await env.client.post(
        f"/api/v1/jobs/{jid}/photos",
        files={"file": ("big.jpg", big, "image/jpeg")},
        data={"kind": "after"},
        headers=env.h("tech1"),
    )
    assert (r.status_code, r.json()["error"]) == (413, "payload_too_large")


async def test_signature_must_be_a_png_and_closed_jobs_take_no_evidence(env: Env) -> None:
    jid = await to_state(env, "in_progress")
    r = await env.client.post(
        f"/api/v1/jobs/{jid}/signature",
        json={"signer_name": "Alice", "image_base64": "not base64 at all!!"},
        headers=env.h("tech1"),
    )
    assert (r.status_code, r.json()["error"]) == (422, "invalid_image")
    assert (await sign(env, jid)).status_code == 201
    done = await to_state(env, "completed", start=START + timedelta(hours=3))
    r = await photo(env, done, "after")
    assert (r.status_code, r.json()["error"]) == (409, "job_closed")
    r = await photo(env, jid, "after", role="customer")
    assert r.status_code == 403
