"""Steps of the job lifecycle, through the HTTP API, for tests to compose."""

from __future__ import annotations

import base64
import io
from datetime import datetime, timedelta
from typing import Any

from PIL import Image

from tests.conftest import T0, Env

VIN = "1HGCM82633A004352"  # a valid VIN with a correct check digit
START = T0 + timedelta(hours=3)  # 09:00 in Dallas


def image_bytes(fmt: str = "JPEG", color: str = "blue") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(buf, fmt)
    return buf.getvalue()


def job_body(customer_id: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": customer_id,
        "service_type": "windshield_replacement",
        "site": {"address": "2601 Preston Rd, Frisco, TX", "lat": 33.1, "lon": -96.8},
        "duration_minutes": 90,
        "vehicle": {"year": 2019, "make": "Honda", "model": "Accord", "vin": VIN},
        "insurance": {
            "carrier": "Lone Star Mutual",
            "claim_number": "CLM-1",
            "policy_number": "POL-9",
            "deductible_cents": 25000,
        },
    }
    body.update(overrides)
    return body


QUOTE = {
    "lines": [
        {
            "kind": "part",
            "description": "Windshield",
            "part_number": "FW04567",
            "quantity": 1,
            "unit_price_cents": 32000,
        },
        {"kind": "labor", "description": "Installation", "quantity": 1, "unit_price_cents": 12000},
        {
            "kind": "calibration",
            "description": "ADAS camera",
            "quantity": 1,
            "unit_price_cents": 15000,
        },
    ],
    "tax_rate": "0.0825",
}


async def create_job(env: Env, **overrides: Any) -> dict[str, Any]:
    r = await env.client.post(
        "/api/v1/jobs",
        json=job_body(env.cast.customer_id, **overrides),
        headers=env.h("dispatcher"),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def approve(env: Env, job_id: int) -> None:
    r = await env.client.put(
        f"/api/v1/jobs/{job_id}/quote", json=QUOTE, headers=env.h("dispatcher")
    )
    assert r.status_code == 200, r.text
    r = await env.client.post(f"/api/v1/jobs/{job_id}/quote/approve", headers=env.h("dispatcher"))
    assert r.status_code == 200, r.text


async def schedule(
    env: Env,
    job_id: int,
    technician_id: int | None = None,
    start: datetime = START,
    override_reason: str | None = None,
) -> dict[str, Any]:
    tech = technician_id or env.cast.tech1_id
    body: dict[str, Any] = {"technician_id": tech, "start": start.isoformat()}
    if override_reason:
        body["override_reason"] = override_reason
    r = await env.client.post(
        f"/api/v1/jobs/{job_id}/schedule", json=body, headers=env.h("dispatcher")
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def act(env: Env, job_id: int, action: str, role: str = "tech1", **extra: Any) -> Any:
    return await env.client.post(
        f"/api/v1/jobs/{job_id}/transitions", json={"action": action, **extra}, headers=env.h(role)
    )


async def photo(env: Env, job_id: int, kind: str, role: str = "tech1") -> Any:
    return await env.client.post(
        f"/api/v1/jobs/{job_id}/photos",
        files={"file": ("p.jpg", image_bytes(), "image/jpeg")},
        data={"kind": kind},
        headers=env.h(role),
    )


async def sign(env: Env, job_id: int, role: str = "tech1") -> Any:
    png = base64.b64encode(image_bytes("PNG", "white")).decode()
    return await env.client.post(
        f"/api/v1/jobs/{job_id}/signature",
        json={"signer_name": "Alice Moreno", "image_base64": f"data:image/png;base64,{png}"},
        headers=env.h(role),
    )


def next_slot(env: Env) -> datetime:
    """A free, reachable start for the next test job on tech1's days: 09:00, 11:00, 13:00 and
    15:00 in Dallas, Tuesday to Friday, then the next week. All test jobs share one site, so
    back-to-back jobs need no drive and the first is 20 minutes from the shop."""
    k = env.slots_taken
    env.slots_taken += 1
    day, hour = divmod(k, 4)
    weeks, weekday = divmod(day, 4)
    return START + timedelta(days=weekday + 7 * weeks, hours=2 * hour)


async def to_state(
    env: Env, state: str, *, approved: bool = True, start: datetime | None = None
) -> int:
    """A job driven through the real API into ``state``; returns its id.

    A ``quoted`` job gets an approved quote unless ``approved`` is false. A scheduled (or later)
    job takes ``start`` or the next free test slot.
    """
    job = await create_job(env)
    jid = int(job["id"])
    if state == "quoted":
        if approved:
            await approve(env, jid)
        return jid
    if state == "cancelled":
        r = await act(env, jid, "cancel", role="dispatcher", reason="customer changed their mind")
        assert r.status_code == 200, r.text
        return jid
    await approve(env, jid)
    await schedule(env, jid, start=start or next_slot(env))
    steps = ["scheduled", "en_route", "in_progress", "completed", "invoiced"]
    for step in steps[1 : steps.index(state) + 1]:
        if step == "en_route":
            r = await act(env, jid, "start_travel")
        elif step == "in_progress":
            r = await act(env, jid, "start_work")
        elif step == "completed":
            for kind in ("before", "after"):
                assert (await photo(env, jid, kind)).status_code == 201
            assert (await sign(env, jid)).status_code == 201
            r = await act(env, jid, "complete")
        else:
            r = await act(env, jid, "invoice", role="dispatcher")
        assert r.status_code == 200, r.text
    return jid
