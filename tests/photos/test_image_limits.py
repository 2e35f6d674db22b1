"""Pixel limits: an image is judged by the size in its header, before any pixel is decoded.

A PNG of one colour compresses about 1000:1, so the byte cap says little about what decoding
costs: 137 kB on the wire can be 144 megapixels, over half a gigabyte once decoded.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Env
from tests.documents.test_pdf import ReadPdf, read  # noqa: F401  (the fixture)
from tests.flows import START, to_state
from tests.photos.pngs import blank_png, data_url

pytestmark = pytest.mark.anyio

# The figures ADR 0017 states, spelled here so a change to them is a visible decision.
PHOTO_MAX_PIXELS = 40_000_000  # 6400x6250
SIGNATURE_MAX_PIXELS = 4_000_000  # 2000x2000


async def upload(env: Env, job_id: int, content: bytes) -> httpx.Response:
    return await env.client.post(
        f"/api/v1/jobs/{job_id}/photos",
        files={"file": ("shot.png", content, "image/png")},
        data={"kind": "before"},
        headers=env.h("tech1"),
    )


async def signature(env: Env, job_id: int, content: bytes) -> httpx.Response:
    return await env.client.post(
        f"/api/v1/jobs/{job_id}/signature",
        json={"signer_name": "Alice Moreno", "image_base64": data_url(content)},
        headers=env.h("tech1"),
    )


def too_large(r: httpx.Response, limit: int) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    body: dict[str, Any] = r.json()
    assert body["error"] == "image_too_large"
    assert f"{limit // 1_000_000} megapixels" in body["message"]
    assert body["details"]["max_pixels"] == limit
    return body


@pytest.mark.parametrize(
    "side",
    [20_000, 10_000],
    # Pillow itself raises past 179 MP and warns (an error under pytest) past 89 MP.
    ids=["past Pillow's refusal", "past Pillow's warning"],
)
async def test_a_decompression_bomb_is_refused_as_json(env: Env, side: int) -> None:
    bomb = blank_png(side, side)
    assert len(bomb) < 60_000
    jid = await to_state(env, "in_progress")

    too_large(await upload(env, jid, bomb), PHOTO_MAX_PIXELS)
    too_large(await signature(env, jid, bomb), SIGNATURE_MAX_PIXELS)

    assert (await env.sql("SELECT count(*) FROM photos"))[0][0] == 0
    assert (await env.sql("SELECT count(*) FROM signatures"))[0][0] == 0
    assert not (env.settings.upload_dir / "photos").exists()
    assert not (env.settings.upload_dir / "signatures").exists()


async def test_photos_and_signatures_are_limited_in_pixels(env: Env) -> None:
    # Exactly at each limit is accepted; one row more is refused. Each is a few kB as PNG.
    jid = await to_state(env, "in_progress")

    body = too_large(await upload(env, jid, blank_png(6400, 6251)), PHOTO_MAX_PIXELS)
    assert (body["details"]["width"], body["details"]["height"]) == (6400, 6251)
    assert "6400x6251" in body["message"]
    too_large(await signature(env, jid, blank_png(2000, 2001)), SIGNATURE_MAX_PIXELS)
    assert (await env.sql("SELECT count(*) FROM photos"))[0][0] == 0

    assert (await upload(env, jid, blank_png(6400, 6250))).status_code == 201
    assert (await signature(env, jid, blank_png(2000, 2000))).status_code == 201


async def test_a_photo_stored_before_the_limit_is_never_decoded(
    env: Env,
    read: ReadPdf,  # noqa: F811
) -> None:
    jid = await to_state(env, "completed", start=START)
    # As if uploaded before photos had a pixel limit.
    ((photo_id, name), _) = await env.sql(
        "SELECT id, stored_name FROM photos WHERE job_id = :j ORDER BY id", j=jid
    )
    huge = blank_png(6400, 6251)
    (env.settings.upload_dir / "photos" / name).write_bytes(huge)
    url = f"/api/v1/jobs/{jid}/photos/{photo_id}"

    # The office gets the file as stored; the customer's copy would need decoding to re-encode.
    office = await env.client.get(f"{url}/content", headers=env.h("dispatcher"))
    assert (office.status_code, office.content) == (200, huge)
    too_large(await env.client.get(f"{url}/content", headers=env.h("customer")), PHOTO_MAX_PIXELS)

    r = await env.client.get(f"/api/v1/jobs/{jid}/documents/work-order.pdf", headers=env.h("tech1"))
    assert r.status_code == 200
    page = read(r.content)
    assert "photo too large to print" in page.text
    assert len(page.images) == 2  # the other photo and the signature
