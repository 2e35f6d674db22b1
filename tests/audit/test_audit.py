"""The audit trail: complete, chained, and tamper-evident through the API and the CLI."""

from __future__ import annotations

import hashlib

import anyio.to_thread
import pytest
from typer.testing import CliRunner

from routeboard.cli import app as cli
from tests.conftest import Env
from tests.flows import image_bytes, to_state

pytestmark = pytest.mark.anyio


async def _trail(env: Env, job_id: int) -> dict:  # type: ignore[type-arg]
    r = await env.client.get(
        f"/api/v1/jobs/{job_id}/audit", headers={**env.h("dispatcher"), "User-Agent": "pytest"}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _cli_verify(env: Env) -> tuple[int, str]:
    """`routeboard audit verify`, run the way a shell runs it (its own event loop, a thread)."""
    variables = {
        "ROUTEBOARD_DATABASE_URL": env.settings.effective_database_url,
        "ROUTEBOARD_DATA_DIR": str(env.settings.data_dir),
    }
    result = await anyio.to_thread.run_sync(
        lambda: CliRunner().invoke(cli, ["audit", "verify"], env=variables)
    )
    return result.exit_code, result.output


async def test_every_step_is_recorded_with_who_when_and_from_what(env: Env) -> None:
    jid = await to_state(env, "invoiced")
    trail = await _trail(env, jid)
    assert trail["verified"] is True and trail["broken"] is None
    actions = [e["action"] for e in trail["entries"]]
    assert actions == [
        "job.created",
        "quote.updated",
        "quote.approved",
        "job.schedule",
        "job.start_travel",
        "job.start_work",
        "photo.added",
        "photo.added",
        "signature.added",
        "job.complete",
        "job.invoice",
    ]
    by_action = {e["action"]: e for e in trail["entries"]}
    travel = by_action["job.start_travel"]
    assert (travel["actor_name"], travel["actor_role"]) == ("tech1", "technician")
    assert (travel["from_state"], travel["to_state"]) == ("scheduled", "en_route")
    assert travel["at"].endswith("Z") or "+00:00" in travel["at"]
    assert by_action["job.schedule"]["actor_role"] == "dispatcher"
    assert [e["seq"] for e in trail["entries"]] == list(range(1, 12))
    # The photo's content hash is part of the chained evidence.
    photo_entry = by_action["photo.added"]
    assert photo_entry["data"]["sha256"] == hashlib.sha256(image_bytes()).hexdigest()
    for prev, entry in zip(trail["entries"], trail["entries"][1:], strict=False):
        assert entry["prev_hash"] == prev["hash"]


async def test_request_metadata_and_location_are_kept(env: Env) -> None:
    jid = await to_state(env, "scheduled")
    r = await env.client.post(
        f"/api/v1/jobs/{jid}/transitions",
        json={"action": "start_travel", "lat": 33.0198123456, "lon": -96.6989},
        headers={**env.h("tech1"), "User-Agent": "RouteboardTech/1.0"},
    )
    assert r.status_code == 200
    entry = (await _trail(env, jid))["entries"][-1]
    assert entry["user_agent"] == "RouteboardTech/1.0"
    assert entry["client_addr"] == "127.0.0.1"
    assert (entry["lat"], entry["lon"]) == (33.019812, -96.6989)


async def test_altering_one_entry_is_reported_by_the_api_and_the_cli(env: Env) -> None:
    jid = await to_state(env, "completed")
    other = await to_state(env, "scheduled")
    assert (await _cli_verify(env))[0] == 0
    entries = (await _trail(env, jid))["entries"]
    target = entries[3]  # the scheduling entry
    await env.sql(
        "UPDATE audit_entries SET actor_name = 'someone else' WHERE id = :i", i=target["id"]
    )

    trail = await _trail(env, jid)
    assert trail["verified"] is False
    assert trail["broken"]["entry_id"] == target["id"]
    assert trail["broken"]["seq"] == target["seq"]
    assert (await _trail(env, other))["verified"] is True

    code, output = await _cli_verify(env)
    assert code == 1
    assert f"job {jid}: BROKEN at entry {target['id']}" in output
    assert "1 broken" in output


async def test_a_changed_photo_hash_or_a_deleted_entry_is_detected(env: Env) -> None:
    jid = await to_state(env, "completed")
    entries = (await _trail(env, jid))["entries"]
    photo_entry = next(e for e in entries if e["action"] == "photo.added")
    forged = dict(photo_entry["data"], sha256="0" * 64)
    await env.sql(
        "UPDATE audit_entries SET data = :d WHERE id = :i",
        d=__import__("json").dumps(forged),
        i=photo_entry["id"],
    )
    assert (await _trail(env, jid))["broken"]["entry_id"] == photo_entry["id"]

    jid2 = await to_state(env, "en_route")
    last = (await _trail(env, jid2))["entries"][-1]
    await env.sql("DELETE FROM audit_entries WHERE id = :i", i=last["id"])
    trail = await _trail(env, jid2)
    assert trail["verified"] is False
    assert "missing" in trail["broken"]["problem"]
    code, output = await _cli_verify(env)
    assert code == 1 and "2 broken" in output
