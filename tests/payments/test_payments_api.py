"""Taking payment on a completed job through the API: by hand, by card through the in-memory
twin, and by card through Stripe's real HTTP API (a local fake) and its signed webhooks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from routeboard.payments.provider import MemoryProvider, StripeProvider
from tests.conftest import Env
from tests.flows import to_state
from tests.payments.fake_stripe import FakeStripe, sign
from tests.payments.test_provider import SECRET_KEY, WEBHOOK_SECRET

pytestmark = pytest.mark.anyio
DEDUCTIBLE = 25000  # the test job's insurance deductible: the customer's share


async def pay(env: Env, jid: int, method: str, key: str | None = None) -> httpx.Response:
    headers = env.h("tech1") | ({"Idempotency-Key": key} if key else {})
    return await env.client.post(
        f"/api/v1/jobs/{jid}/payments", json={"method": method}, headers=headers
    )


async def webhook(env: Env, payload: bytes, headers: dict[str, str]) -> httpx.Response:
    return await env.client.post("/api/v1/payments/webhook", content=payload, headers=headers)


async def test_cash_takes_the_customers_share_once(env: Env) -> None:
    jid = await to_state(env, "completed")
    first = await pay(env, jid, "cash", key="pay-cash-0001")
    assert first.status_code == 201, first.text
    assert (first.json()["status"], first.json()["amount_cents"]) == ("succeeded", DEDUCTIBLE)
    again = await pay(env, jid, "cash", key="pay-cash-0001")  # the tap retried
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    more = await pay(env, jid, "cheque")  # a second, different tap: nothing left to take
    assert (more.status_code, more.json()["error"]) == (409, "nothing_due")
    listed = await env.client.get(f"/api/v1/jobs/{jid}/payments", headers=env.h("customer"))
    assert [p["amount_cents"] for p in listed.json()] == [DEDUCTIBLE]
    trail = await env.sql("SELECT action FROM audit_entries WHERE job_id = :j", j=jid)
    assert [a for (a,) in trail].count("payment.succeeded") == 1


async def test_payment_waits_for_completion_and_insurance_only_needs_nothing_owed(
    env: Env,
) -> None:
    working = await to_state(env, "in_progress")
    r = await pay(env, working, "cash")
    assert (r.status_code, r.json()["error"]) == (409, "job_not_completed")
    done = await to_state(env, "completed")
    r = await pay(env, done, "insurance_only")
    assert (r.status_code, r.json()["error"]) == (409, "customer_share_due")
    assert r.json()["details"]["due_cents"] == DEDUCTIBLE
    assert (await pay(env, done, "cash")).status_code == 201
    r = await pay(env, done, "insurance_only")  # nothing owed now: the insurer pays the rest
    assert (r.status_code, r.json()["amount_cents"]) == (201, 0)
    r = await pay(env, done, "card")
    assert (r.status_code, r.json()["error"]) == (409, "nothing_due")


async def test_card_without_a_provider_is_refused_in_words(env: Env) -> None:
    jid = await to_state(env, "completed")
    r = await pay(env, jid, "card")
    assert (r.status_code, r.json()["error"]) == (409, "card_not_configured")


async def test_card_through_the_twin_is_pending_until_its_webhook(env: Env) -> None:
    provider = MemoryProvider()
    env.app.state.payments = provider
    jid = await to_state(env, "completed")
    r = await pay(env, jid, "card")
    assert r.status_code == 201, r.text
    card = r.json()
    assert card["status"] == "pending" and card["checkout_url"].endswith(card["reference"])
    assert card["qr_svg"].startswith("<svg")
    # A second tap shows the same checkout: one charge, however often it is tapped.
    assert (await pay(env, jid, "card")).json()["id"] == card["id"]
    assert provider.created == 1
    delivery = provider.pay(card["reference"])
    tampered = dict(delivery.headers, **{"Stripe-Signature": "t=1,v1=" + "0" * 64})
    refused = await webhook(env, delivery.payload, tampered)
    assert (refused.status_code, refused.json()["error"]) == (401, "bad_signature")
    ok = await webhook(env, delivery.payload, delivery.headers)
    assert ok.json() == {"received": True, "changed": True}
    repeat = await webhook(env, delivery.payload, delivery.headers)
    assert repeat.json() == {"received": True, "changed": False}
    [paid] = (await env.client.get(f"/api/v1/jobs/{jid}/payments", headers=env.h("tech1"))).json()
    assert (paid["status"], paid["qr_svg"]) == ("succeeded", None)
    trail = await env.sql("SELECT action FROM audit_entries WHERE job_id = :j", j=jid)
    assert [a for (a,) in trail].count("payment.succeeded") == 1
    events = await env.sql("SELECT payload FROM events WHERE type = 'job.payment' ORDER BY id")
    statuses = [(p if isinstance(p, dict) else json.loads(p))["status"] for (p,) in events]
    assert statuses == ["pending", "succeeded"]


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    server = FakeStripe(SECRET_KEY)
    yield server
    server.close()


@pytest.fixture
async def stripe_app(env: Env, fake: FakeStripe) -> AsyncIterator[Env]:
    async with httpx.AsyncClient(trust_env=False) as http:
        env.app.state.payments = StripeProvider(SECRET_KEY, WEBHOOK_SECRET, http, base_url=fake.url)
        yield env


async def test_card_through_stripe_and_its_signed_webhook(
    stripe_app: Env, fake: FakeStripe
) -> None:
    env = stripe_app
    jid = await to_state(env, "completed")
    r = await pay(env, jid, "card", key="pay-card-0001")
    assert r.status_code == 201, r.text
    card = r.json()
    assert card["provider"] == "stripe" and card["reference"].startswith("cs_test_")
    [created] = [s for s in fake.requests if s.path == "/v1/checkout/sessions"]
    assert created.form["metadata[job_id]"] == str(jid)
    assert int(created.form["line_items[0][price_data][unit_amount]"]) == DEDUCTIBLE
    payload = fake.event(card["reference"], "checkout.session.completed")
    bad = await webhook(env, payload, {"Stripe-Signature": sign(payload, "whsec_wrong")})
    assert bad.status_code == 401
    headers = {"Stripe-Signature": sign(payload, WEBHOOK_SECRET)}
    assert (await webhook(env, payload, headers)).json()["changed"] is True
    assert (await webhook(env, payload, headers)).json()["changed"] is False  # repeated
    [paid] = (await env.client.get(f"/api/v1/jobs/{jid}/payments", headers=env.h("tech1"))).json()
    assert (paid["status"], paid["amount_cents"]) == ("succeeded", DEDUCTIBLE)
