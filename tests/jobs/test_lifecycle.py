"""Every (state, action) pair through the HTTP API, on both databases.

The expectations are written out here, independently of ``states.TRANSITIONS``, so a change to
the table that is not also a decision shows up as a failing test.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Env
from tests.flows import START, act, photo, sign, to_state

pytestmark = pytest.mark.anyio

STATES = ["quoted", "scheduled", "en_route", "in_progress", "completed", "invoiced", "cancelled"]
ACTIONS = ["schedule", "start_travel", "start_work", "complete", "invoice", "cancel", "unschedule"]

# (state, action) -> resulting state, or the guard that refuses it.
ALLOWED = {
    ("quoted", "schedule"): "scheduled",
    ("quoted", "cancel"): "cancelled",
    ("scheduled", "schedule"): "scheduled",
    ("scheduled", "start_travel"): "en_route",
    ("scheduled", "cancel"): "cancelled",
    ("scheduled", "unschedule"): "quoted",
    ("en_route", "start_work"): "in_progress",
    ("en_route", "cancel"): "cancelled",
    ("in_progress", "complete"): "completed",
    ("completed", "invoice"): "invoiced",
}
ROLE = {
    "schedule": "dispatcher",
    "start_travel": "tech1",
    "start_work": "tech1",
    "complete": "tech1",
    "invoice": "dispatcher",
    "cancel": "dispatcher",
    "unschedule": "dispatcher",
}


def expected(state: str, action: str) -> tuple[int, str]:
    if (state, action) in ALLOWED:
        return 200, ALLOWED[state, action]
    return 409, "not_completed" if action == "invoice" else "invalid_transition"


async def snapshot(env: Env, job_id: int) -> dict[str, Any]:
    """Everything a refused transition must leave untouched."""
    counts = {}
    for table in ("audit_entries", "outbox", "events", "invoices"):
        rows = await env.sql(f"SELECT count(*) FROM {table} WHERE job_id = :j", j=job_id)
        counts[table] = rows[0][0]
    state = await env.sql(
        "SELECT state, technician_id, scheduled_start FROM jobs WHERE id = :j", j=job_id
    )
    return {"job": tuple(state[0]), **counts}


async def perform(env: Env, job_id: int, action: str) -> Any:
    if action == "schedule":
        return await env.client.post(
            f"/api/v1/jobs/{job_id}/schedule",
            json={"technician_id": env.cast.tech1_id, "start": START.replace(hour=20).isoformat()},
            headers=env.h("dispatcher"),
        )
    reason = "customer rescheduled with another shop" if action == "cancel" else None
    return await act(env, job_id, action, role=ROLE[action], reason=reason)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", ACTIONS)
async def test_every_state_action_pair(env: Env, state: str, action: str) -> None:
    job_id = await to_state(env, state)
    if state == "in_progress":
        for kind in ("before", "after"):
            assert (await photo(env, job_id, kind)).status_code == 201
        assert (await sign(env, job_id)).status_code == 201
    before = await snapshot(env, job_id)
    status, outcome = expected(state, action)

    r = await perform(env, job_id, action)

    assert r.status_code == status, r.text
    if status == 200:
        assert r.json()["state"] == outcome
        after = await snapshot(env, job_id)
        assert after["audit_entries"] == before["audit_entries"] + 1
        assert after["events"] > before["events"]
    else:
        body = r.json()
        assert body["error"] == outcome
        assert body["details"]["guard"] == outcome
        assert body["message"]
        assert await snapshot(env, job_id) == before
