"""Quotes: totals in cents, approval, and editing rules."""

from __future__ import annotations

import pytest

from tests.conftest import Env
from tests.flows import QUOTE, approve, create_job, to_state

pytestmark = pytest.mark.anyio


async def test_put_computes_totals_and_approval_records_who(env: Env) -> None:
    jid = (await create_job(env))["id"]
    r = await env.client.put(f"/api/v1/jobs/{jid}/quote", json=QUOTE, headers=env.h("dispatcher"))
    quote = r.json()
    assert (quote["status"], quote["tax_rate_bp"]) == ("draft", 825)
    assert (quote["subtotal_cents"], quote["tax_cents"], quote["total_cents"]) == (
        59000,
        4868,
        63868,
    )
    assert [ln["amount_cents"] for ln in quote["lines"]] == [32000, 12000, 15000]
    r = await env.client.post(
        f"/api/v1/jobs/{jid}/quote/approve",
        json={"note": "insurer authorised by phone"},
        headers=env.h("dispatcher"),
    )
    quote = r.json()
    assert quote["status"] == "approved"
    assert quote["approved_by_id"] == env.cast.user_ids["dispatcher"]
    assert quote["approved_at"] is not None
    r = await env.client.post(f"/api/v1/jobs/{jid}/quote/approve", headers=env.h("dispatcher"))
    assert (r.status_code, r.json()["error"]) == (409, "quote_not_approvable")


async def test_editing_an_approved_quote_takes_it_back_to_draft(env: Env) -> None:
    jid = (await create_job(env))["id"]
    await approve(env, jid)
    r = await env.client.put(
        f"/api/v1/jobs/{jid}/quote",
        json={
            "lines": [
                {
                    "kind": "part",
                    "description": "Chip resin",
                    "quantity": 3,
                    "unit_price_cents": 2500,
                }
            ]
        },
        headers=env.h("dispatcher"),
    )
    quote = r.json()
    assert (quote["status"], quote["approved_by_id"], quote["total_cents"]) == ("draft", None, 7500)
    got = (await env.client.get(f"/api/v1/jobs/{jid}/quote", headers=env.h("customer"))).json()
    assert got["lines"][0]["quantity"] == 3


async def test_quote_is_locked_after_completion_and_missing_before_creation(env: Env) -> None:
    jid = await to_state(env, "completed")
    r = await env.client.put(f"/api/v1/jobs/{jid}/quote", json=QUOTE, headers=env.h("dispatcher"))
    assert (r.status_code, r.json()["error"]) == (409, "quote_locked")
    fresh = (await create_job(env))["id"]
    r = await env.client.post(f"/api/v1/jobs/{fresh}/quote/approve", headers=env.h("dispatcher"))
    assert (r.status_code, r.json()["error"]) == (409, "quote_missing")
    r = await env.client.get(f"/api/v1/jobs/{fresh}/quote", headers=env.h("dispatcher"))
    assert (r.status_code, r.json()["error"]) == (404, "quote_not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"lines": []},
        {"lines": [{"kind": "gift", "description": "x", "quantity": 1, "unit_price_cents": 1}]},
        {"lines": [{"kind": "fee", "description": "x", "quantity": 0, "unit_price_cents": 1}]},
        {"lines": [{"kind": "fee", "description": "x", "quantity": 1, "unit_price_cents": -1}]},
        {
            "lines": [{"kind": "fee", "description": "x", "quantity": 1, "unit_price_cents": 1}],
            "tax_rate": "0.5",
        },
    ],
)
async def test_invalid_quotes_change_nothing(env: Env, body: dict) -> None:  # type: ignore[type-arg]
    jid = (await create_job(env))["id"]
    await approve(env, jid)
    r = await env.client.put(f"/api/v1/jobs/{jid}/quote", json=body, headers=env.h("dispatcher"))
    assert r.status_code == 422
    quote = (await env.client.get(f"/api/v1/jobs/{jid}/quote", headers=env.h("dispatcher"))).json()
    assert (quote["status"], quote["total_cents"]) == ("approved", 63868)
