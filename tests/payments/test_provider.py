"""StripeProvider against a local server speaking Stripe's API; the twin under the same contract.

The contract tests run once against Stripe (the fake server, its events and signatures) and once
against MemoryProvider. Stripe's own library checks the fake's signatures, so the fake cannot
agree with the provider on a mistake.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import stripe
from stripe._encode import _api_encode

from routeboard.payments.provider import (
    STRIPE_API_VERSION,
    UNREACHABLE,
    Checkout,
    MemoryProvider,
    PaymentError,
    PaymentProvider,
    PaymentUpdate,
    StripeProvider,
    WebhookRejected,
)
from tests.payments.fake_stripe import API_VERSION, FakeStripe, parse_form, sign

pytestmark = pytest.mark.anyio

SECRET_KEY = "sk_test_51RouteboardSecretKey0123456789"
WEBHOOK_SECRET = "whsec_routeboard_test_0123456789abcdef"
PAID = "checkout.session.completed"


def start_args(**changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "amount_cents": 34_950,
        "currency": "usd",
        "description": "Windshield replacement — 2019 Toyota Camry",
        "idempotency_key": "job-12-payment-1",
        "metadata": {"job_id": "12", "invoice": "INV-2026-0042"},
        "success_url": "https://shop.example.com/pay/12/done",
        "cancel_url": "https://shop.example.com/pay/12",
    }
    return {**args, **changes}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # trust_env=False: a proxy from the environment must not sit between us and 127.0.0.1.
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    server = FakeStripe(SECRET_KEY)
    yield server
    server.close()


def stripe_provider(fake: FakeStripe, http: httpx.AsyncClient, **kwargs: Any) -> StripeProvider:
    return StripeProvider(SECRET_KEY, WEBHOOK_SECRET, http, base_url=fake.url + "/", **kwargs)


@dataclass
class Subject:
    """A provider under test and the far side it talks to, seen the same way for both."""

    provider: PaymentProvider
    created: Callable[[], int]
    received: Callable[[], int]
    event: Callable[[str, str, bool], bytes]
    sign: Callable[[bytes, int | None], str]
    prefix: str

    def delivery(
        self, reference: str, type: str = PAID, *, paid: bool = True, timestamp: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        payload = self.event(reference, type, paid)
        return payload, {"Stripe-Signature": self.sign(payload, timestamp)}


@pytest.fixture(params=["stripe", "memory"])
def subject(request: pytest.FixtureRequest, http: httpx.AsyncClient) -> Subject:
    if request.param == "stripe":
        fake: FakeStripe = request.getfixturevalue("fake")
        return Subject(
            provider=stripe_provider(fake, http),
            created=lambda: len(fake.sessions),
            received=lambda: len(fake.requests),
            event=lambda ref, type, paid: fake.event(ref, type, paid=paid),
            sign=lambda payload, ts: sign(payload, WEBHOOK_SECRET, ts),
            prefix="cs_test_",
        )
    memory = MemoryProvider(webhook_secret=WEBHOOK_SECRET)
    return Subject(
        provider=memory,
        created=lambda: memory.created,
        received=lambda: len(memory.calls),
        event=lambda ref, type, paid: memory.event(ref, type, paid=paid),
        sign=lambda payload, ts: memory.sign(payload, timestamp=ts),
        prefix="cs_memory_",
    )


# The contract, for Stripe and the twin alike.


async def test_start_opens_a_pending_checkout_to_show_the_customer(subject: Subject) -> None:
    checkout = await subject.provider.start(**start_args())

    assert checkout.provider == subject.provider.name
    assert checkout.reference.startswith(subject.prefix)
    assert checkout.url is not None and checkout.reference in checkout.url
    assert checkout.status == "pending"
    assert subject.created() == 1


async def test_a_retried_start_returns_the_same_checkout(subject: Subject) -> None:
    first = await subject.provider.start(**start_args())
    again = await subject.provider.start(**start_args())

    assert again == first
    assert subject.received() == 2
    assert subject.created() == 1


async def test_a_key_reused_for_a_different_payment_is_refused(subject: Subject) -> None:
    await subject.provider.start(**start_args())
    with pytest.raises(PaymentError, match="same parameters they were first used with"):
        await subject.provider.start(**start_args(amount_cents=9_900))
    other = await subject.provider.start(**start_args(idempotency_key="job-12-payment-2"))

    assert other.reference.startswith(subject.prefix)
    assert subject.created() == 2


@pytest.mark.parametrize(
    "change",
    [
        {"amount_cents": 0},
        {"amount_cents": -500},
        {"amount_cents": 349.5},
        {"amount_cents": True},
        {"currency": "USD"},
        {"currency": "us"},
        {"currency": "usdt"},
        {"description": "  "},
        {"idempotency_key": ""},
        {"idempotency_key": "k" * 256},
        {"metadata": {"job[id]": "12"}},
        {"metadata": {"x" * 41: "12"}},
        {"metadata": {"note": "x" * 501}},
    ],
    ids=lambda change: "-".join(f"{k}={v!r:.12}" for k, v in change.items()),
)
async def test_bad_arguments_never_leave_the_process(
    subject: Subject, change: dict[str, Any]
) -> None:
    [name] = change
    with pytest.raises(ValueError, match=f"^{name} "):
        await subject.provider.start(**start_args(**change))
    assert subject.received() == 0


async def test_a_paid_checkout_is_a_success_for_its_amount_and_metadata(subject: Subject) -> None:
    checkout = await subject.provider.start(**start_args())
    payload, headers = subject.delivery(checkout.reference)

    update = subject.provider.parse_webhook(payload, headers)

    assert update == PaymentUpdate(
        reference=checkout.reference,
        status="succeeded",
        amount_cents=34_950,
        event_id=json.loads(payload)["id"],
        metadata={"job_id": "12", "invoice": "INV-2026-0042"},
    )


@pytest.mark.parametrize(
    ("type", "status"),
    [
        ("checkout.session.async_payment_succeeded", "succeeded"),
        ("checkout.session.async_payment_failed", "failed"),
        ("checkout.session.expired", "failed"),
    ],
)
async def test_delayed_outcomes_and_expiry(subject: Subject, type: str, status: str) -> None:
    checkout = await subject.provider.start(**start_args())
    update = subject.provider.parse_webhook(*subject.delivery(checkout.reference, type))

    assert update is not None
    assert (update.reference, update.status, update.amount_cents) == (
        checkout.reference,
        status,
        34_950,
    )


@pytest.mark.parametrize(
    ("type", "paid"),
    [
        # The customer chose a delayed method: no money yet, an async_payment_* event follows.
        (PAID, False),
        ("payment_intent.succeeded", True),
        ("charge.refunded", True),
    ],
)
async def test_genuine_events_that_change_no_payment_are_none(
    subject: Subject, type: str, paid: bool
) -> None:
    checkout = await subject.provider.start(**start_args())
    assert (
        subject.provider.parse_webhook(*subject.delivery(checkout.reference, type, paid=paid))
        is None
    )


def _tampered(payload: bytes, header: str) -> tuple[bytes, dict[str, str]]:
    return payload.replace(b"34950", b"34951"), {"Stripe-Signature": header}


def _wrong_secret(payload: bytes, header: str) -> tuple[bytes, dict[str, str]]:
    return payload, {"Stripe-Signature": sign(payload, "whsec_someone_else")}


def _no_header(payload: bytes, header: str) -> tuple[bytes, dict[str, str]]:
    return payload, {"Content-Type": "application/json"}


def _garbage_header(payload: bytes, header: str) -> tuple[bytes, dict[str, str]]:
    return payload, {"Stripe-Signature": "not a signature"}


def _other_scheme_only(payload: bytes, header: str) -> tuple[bytes, dict[str, str]]:
    return payload, {"Stripe-Signature": header.replace("v1=", "v0=")}


@pytest.mark.parametrize(
    "spoil", [_tampered, _wrong_secret, _no_header, _garbage_header, _other_scheme_only]
)
async def test_a_webhook_that_fails_verification_is_rejected(
    subject: Subject, spoil: Callable[[bytes, str], tuple[bytes, dict[str, str]]]
) -> None:
    checkout = await subject.provider.start(**start_args())
    payload, headers = subject.delivery(checkout.reference)

    with pytest.raises(WebhookRejected):
        subject.provider.parse_webhook(*spoil(payload, headers["Stripe-Signature"]))


async def test_a_webhook_signed_too_long_ago_is_rejected(subject: Subject) -> None:
    checkout = await subject.provider.start(**start_args())
    now = int(time.time())
    stale = subject.delivery(checkout.reference, timestamp=now - 301)
    late_but_fine = subject.delivery(checkout.reference, timestamp=now - 200)

    with pytest.raises(WebhookRejected, match="tolerance"):
        subject.provider.parse_webhook(*stale)
    assert subject.provider.parse_webhook(*late_but_fine) is not None


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xfe not utf-8",
        b"{not json",
        b"[1, 2]",
        b'{"hello": "world"}',
        json.dumps({"id": "evt_1", "object": "event", "type": PAID, "data": {}}).encode(),
        json.dumps(
            {
                "id": "evt_1",
                "object": "event",
                "type": PAID,
                "data": {
                    "object": {
                        "id": "cs_test_1",
                        "object": "checkout.session",
                        "payment_status": "paid",
                        "amount_total": "34950",
                    }
                },
            }
        ).encode(),
    ],
    ids=["not-utf8", "not-json", "array", "not-event", "no-session", "amount-as-text"],
)
async def test_a_genuinely_signed_but_unreadable_webhook_is_rejected(
    subject: Subject, payload: bytes
) -> None:
    with pytest.raises(WebhookRejected):
        subject.provider.parse_webhook(payload, {"Stripe-Signature": subject.sign(payload, None)})


async def test_the_signature_header_name_is_matched_in_any_case(subject: Subject) -> None:
    checkout = await subject.provider.start(**start_args())
    payload, headers = subject.delivery(checkout.reference)

    update = subject.provider.parse_webhook(
        payload, {"stripe-signature": headers["Stripe-Signature"]}
    )

    assert update is not None and update.status == "succeeded"


# Stripe's wire format.


async def test_start_posts_stripes_form_encoding_with_key_and_idempotency(
    fake: FakeStripe, http: httpx.AsyncClient
) -> None:
    checkout = await stripe_provider(fake, http).start(**start_args())

    [seen] = fake.requests
    assert (seen.method, seen.path) == ("POST", "/v1/checkout/sessions")
    assert seen.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert seen.headers["idempotency-key"] == "job-12-payment-1"
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert seen.headers["stripe-version"] == STRIPE_API_VERSION == API_VERSION
    expected = {
        "mode": "payment",
        "success_url": "https://shop.example.com/pay/12/done",
        "cancel_url": "https://shop.example.com/pay/12",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": "34950",
        "line_items[0][price_data][product_data][name]": (
            "Windshield replacement — 2019 Toyota Camry"
        ),
        "metadata[job_id]": "12",
        "metadata[invoice]": "INV-2026-0042",
        "payment_intent_data[metadata][job_id]": "12",
        "payment_intent_data[metadata][invoice]": "INV-2026-0042",
    }
    assert seen.form == expected
    # Brackets travel percent-escaped, as Stripe's own library sends them.
    assert b"line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D=usd" in seen.body
    # The same parameters as nested data, flattened by Stripe's own encoder, give the same form.
    nested = {
        "mode": "payment",
        "success_url": "https://shop.example.com/pay/12/done",
        "cancel_url": "https://shop.example.com/pay/12",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 34950,
                    "product_data": {"name": "Windshield replacement — 2019 Toyota Camry"},
                },
            }
        ],
        "metadata": {"job_id": "12", "invoice": "INV-2026-0042"},
        "payment_intent_data": {"metadata": {"job_id": "12", "invoice": "INV-2026-0042"}},
    }
    assert {k: str(v) for k, v in _api_encode(nested)} == expected
    session = fake.sessions[checkout.reference]
    assert checkout == Checkout("stripe", session["id"], session["url"], "pending")
    assert session["amount_total"] == 34_950 and session["currency"] == "usd"
    assert session["metadata"] == {"job_id": "12", "invoice": "INV-2026-0042"}


async def test_a_replayed_start_is_answered_from_stripes_record(
    fake: FakeStripe, http: httpx.AsyncClient
) -> None:
    provider = stripe_provider(fake, http)
    first = await provider.start(**start_args())
    again = await provider.start(**start_args())

    assert again == first
    assert [s.headers["idempotency-key"] for s in fake.requests] == ["job-12-payment-1"] * 2
    assert list(fake.sessions) == [first.reference]


async def test_a_stripe_refusal_surfaces_stripes_message(
    fake: FakeStripe, http: httpx.AsyncClient
) -> None:
    with pytest.raises(PaymentError) as raised:
        await stripe_provider(fake, http).start(**start_args(amount_cents=30))

    assert str(raised.value) == (
        "The Checkout Session's total amount due must add up to at least $0.50 usd"
    )
    assert fake.sessions == {}


async def test_a_wrong_secret_key_surfaces_stripes_message_without_the_key(
    fake: FakeStripe, http: httpx.AsyncClient
) -> None:
    wrong = "sk_test_51SomebodyElsesKey000000000000"
    provider = StripeProvider(wrong, WEBHOOK_SECRET, http, base_url=fake.url)

    with pytest.raises(PaymentError, match=r"^Invalid API Key provided: sk_test_\*+0000$"):
        await provider.start(**start_args())


async def test_an_unreachable_card_processor_is_a_payment_error(http: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now: the connection is refused.
    provider = StripeProvider(SECRET_KEY, WEBHOOK_SECRET, http, base_url=f"http://127.0.0.1:{port}")

    with pytest.raises(PaymentError) as raised:
        await provider.start(**start_args())
    assert str(raised.value) == UNREACHABLE == "could not reach the card processor"


async def test_a_lost_answer_is_safe_to_retry_with_the_same_key(
    fake: FakeStripe, http: httpx.AsyncClient
) -> None:
    fake.delay = 2.0
    with pytest.raises(PaymentError, match=UNREACHABLE):
        await stripe_provider(fake, http, timeout=0.2).start(**start_args())
    fake.delay = 0.0

    checkout = await stripe_provider(fake, http).start(**start_args())

    # Stripe made the session the first time; the retry gets that one, not a second.
    assert list(fake.sessions) == [checkout.reference]
    assert len(fake.requests) == 2


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ((502, b"<html>Bad Gateway</html>"), "the card processor answered HTTP 502"),
        ((500, {"error": {"type": "api_error"}}), "the card processor answered HTTP 500"),
        (
            (429, {"error": {"type": "rate_limit_error", "message": "Too many requests."}}),
            "Too many requests.",
        ),
        ((200, {"object": "checkout.session"}), "the card processor sent an answer we could not"),
        ((200, b"not json"), "the card processor sent an answer we could not"),
    ],
)
async def test_odd_answers_are_payment_errors(
    fake: FakeStripe, http: httpx.AsyncClient, reply: tuple[int, Any], message: str
) -> None:
    fake.override = reply
    with pytest.raises(PaymentError, match=f"^{message}"):
        await stripe_provider(fake, http).start(**start_args())


# The fake against Stripe itself: its signatures, its events, its validation.


async def test_the_fakes_events_pass_stripes_own_verification(
    fake: FakeStripe, http: httpx.AsyncClient
) -> None:
    checkout = await stripe_provider(fake, http).start(**start_args())
    payload = fake.event(checkout.reference, PAID)
    header = sign(payload, WEBHOOK_SECRET, 1_790_000_000)

    assert header == stripe.WebhookSignature.generate_signature_header(
        payload.decode(), WEBHOOK_SECRET, 1_790_000_000
    )
    event = stripe.Webhook.construct_event(payload, sign(payload, WEBHOOK_SECRET), WEBHOOK_SECRET)
    assert event.type == PAID
    assert event.data.object.id == checkout.reference
    assert event.data.object.payment_status == "paid"


async def test_the_twins_signatures_are_stripes() -> None:
    memory = MemoryProvider(webhook_secret=WEBHOOK_SECRET)
    checkout = await memory.start(**start_args())
    payload = memory.event(checkout.reference, PAID)

    assert memory.sign(payload, timestamp=1_790_000_000) == (
        stripe.WebhookSignature.generate_signature_header(
            payload.decode(), WEBHOOK_SECRET, 1_790_000_000
        )
    )
    event = stripe.Webhook.construct_event(payload, memory.sign(payload), WEBHOOK_SECRET)
    assert (event.type, event.data.object.id) == (PAID, checkout.reference)


def test_the_fake_reads_forms_as_stripe_nests_them() -> None:
    body = urlencode(
        [
            ("mode", "payment"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[1][quantity]", "2"),
            ("line_items[0][quantity]", "1"),
            ("metadata[job_id]", "12"),
            ("expand[]", "payment_intent"),
            ("expand[]", "customer"),
        ]
    ).encode()

    assert parse_form(body) == {
        "mode": "payment",
        "line_items": [{"price_data": {"currency": "usd"}, "quantity": "1"}, {"quantity": "2"}],
        "metadata": {"job_id": "12"},
        "expand": ["payment_intent", "customer"],
    }


async def test_the_fake_answers_like_stripe(fake: FakeStripe, http: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {SECRET_KEY}"}
    url = f"{fake.url}/v1/checkout/sessions"
    form = [
        ("mode", "payment"),
        ("line_items[0][quantity]", "1"),
        ("line_items[0][price_data][unit_amount]", "34950"),
        ("line_items[0][price_data][product_data][name]", "Chip repair"),
    ]

    missing = await http.post(url, data=dict(form), headers=auth)
    unknown = await http.post(url, data={**dict(form), "metdata[job_id]": "12"}, headers=auth)
    anonymous = await http.post(url, data=dict(form))
    nowhere = await http.get(f"{url}/cs_test_nope", headers=auth)
    created = await http.post(
        url, data={**dict(form), "line_items[0][price_data][currency]": "usd"}, headers=auth
    )
    session_id = created.json()["id"]
    fake.event(session_id, PAID)
    fetched = await http.get(f"{url}/{session_id}", headers=auth)

    assert missing.status_code == 400
    assert missing.json()["error"] == {
        "code": "parameter_missing",
        "doc_url": "https://stripe.com/docs/error-codes/parameter-missing",
        "message": "Missing required param: line_items[0][price_data][currency].",
        "param": "line_items[0][price_data][currency]",
        "type": "invalid_request_error",
    }
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"] == "Received unknown parameter: metdata"
    assert anonymous.status_code == 401
    assert nowhere.status_code == 404
    assert nowhere.json()["error"]["code"] == "resource_missing"
    assert created.status_code == 200
    assert created.json()["url"] == f"https://checkout.stripe.com/c/pay/{session_id}"
    assert (created.json()["status"], created.json()["payment_status"]) == ("open", "unpaid")
    assert fetched.json()["status"] == "complete"
    assert fetched.json()["payment_status"] == "paid"
    assert fetched.json()["payment_intent"].startswith("pi_")


# The twin's own helpers, for the demo and for service tests.


async def test_the_twin_records_calls_pays_fails_and_refuses() -> None:
    memory = MemoryProvider(webhook_secret=WEBHOOK_SECRET, page_url="http://demo.local/pay/")
    paid = await memory.start(**start_args())
    failed = await memory.start(**start_args(idempotency_key="job-13-payment-1"))

    assert paid.url == f"http://demo.local/pay/{paid.reference}"
    assert [c.idempotency_key for c in memory.calls] == ["job-12-payment-1", "job-13-payment-1"]
    assert memory.calls[0].metadata == {"job_id": "12", "invoice": "INV-2026-0042"}
    settled = memory.parse_webhook(*memory.pay(paid.reference))
    assert settled is not None and (settled.reference, settled.status) == (
        paid.reference,
        "succeeded",
    )
    declined = memory.parse_webhook(*memory.fail(failed.reference))
    assert declined is not None and (declined.reference, declined.status) == (
        failed.reference,
        "failed",
    )

    memory.refusal = "Card payments are switched off for this shop."
    with pytest.raises(PaymentError, match="switched off"):
        await memory.start(**start_args(idempotency_key="job-14-payment-1"))
    assert memory.created == 2


async def test_a_twin_webhook_does_not_verify_under_another_secret() -> None:
    memory = MemoryProvider(webhook_secret=WEBHOOK_SECRET)
    other = MemoryProvider(webhook_secret="whsec_another_shop")
    checkout = await memory.start(**start_args())

    with pytest.raises(WebhookRejected, match="No signatures found matching"):
        other.parse_webhook(*memory.pay(checkout.reference))
