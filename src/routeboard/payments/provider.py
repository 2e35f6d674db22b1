"""Card payment providers behind one small Protocol.

``StripeProvider`` opens a Stripe Checkout Session over Stripe's HTTP API (form-encoded, as
Stripe expects) and reads Stripe's signed webhooks. ``MemoryProvider`` is the in-memory twin for
tests and the demo. The twin emits the same Stripe-shaped events, signed the same way, and both
verify signatures with Stripe's own library, so code written against the twin goes through the
same checks as production.

Nothing here records a payment: ``start`` and ``parse_webhook`` only say what the provider did.
Deduplicating events (Stripe delivers at least once, in any order) and ignoring references we
never issued belong to the service that writes the rows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple, Protocol
from urllib.parse import urlencode

import httpx
import stripe

from routeboard.clock import Clock, system_clock

log = logging.getLogger(__name__)

# The API version the installed stripe library was generated from. Pinning it keeps an account
# upgrade in Stripe's dashboard from changing the response shapes under us.
STRIPE_API_VERSION = "2026-10-28.endive"
# Stripe's default: a signed webhook older than this is refused, which bounds replays.
WEBHOOK_TOLERANCE_SECONDS = 300
# Stripe's documented limits; checking them here keeps the twin and the real provider alike.
MAX_IDEMPOTENCY_KEY = 255
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500
UNREACHABLE = "could not reach the card processor"
UNREADABLE = "the card processor sent an answer we could not read"
# Stripe's wording, so the twin refuses a reused key with the message the real one would show.
IDEMPOTENCY_MISMATCH = (
    "Keys for idempotent requests can only be used with the same parameters they were first "
    "used with. Try using a key other than '{key}' if you meant to execute a different request."
)

SUCCEEDED_EVENTS = frozenset({"checkout.session.async_payment_succeeded"})
FAILED_EVENTS = frozenset({"checkout.session.async_payment_failed", "checkout.session.expired"})
COMPLETED = "checkout.session.completed"

Status = Literal["pending", "succeeded", "failed"]


@dataclass(frozen=True)
class Checkout:
    """What the phone shows the customer: the page to pay on (as a QR code or link)."""

    provider: str
    reference: str
    url: str | None
    status: Status


@dataclass(frozen=True)
class PaymentUpdate:
    """What a verified webhook says happened to a checkout."""

    reference: str
    status: Literal["succeeded", "failed"]
    amount_cents: int
    event_id: str
    metadata: dict[str, str]


class PaymentError(Exception):
    """The provider refused the payment or could not be reached; the message is safe to show."""


class WebhookRejected(Exception):
    """A webhook that must not be trusted: bad signature, stale timestamp or unparseable body."""


class PaymentProvider(Protocol):
    """Takes a card payment on a hosted page and reports the outcome by webhook."""

    name: str

    async def start(
        self,
        *,
        amount_cents: int,
        currency: str,
        description: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
        success_url: str,
        cancel_url: str,
    ) -> Checkout:
        """Open a checkout; the same ``idempotency_key`` and arguments give the same checkout."""
        ...

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> PaymentUpdate | None:
        """Verify a webhook; None for a genuine event that changes no payment."""
        ...


class Delivery(NamedTuple):
    """A webhook as it reaches our endpoint: the raw body and the request headers."""

    payload: bytes
    headers: dict[str, str]


def _check_start(
    amount_cents: int,
    currency: str,
    description: str,
    idempotency_key: str,
    metadata: Mapping[str, str],
) -> None:
    # These are caller bugs, not refusals: they fail before anything leaves the process.
    # bool is an int subclass; True would otherwise be a one-cent charge.
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ValueError(f"amount_cents must be a positive integer, got {amount_cents!r}")
    if not (isinstance(currency, str) and re.fullmatch("[a-z]{3}", currency)):
        raise ValueError(f"currency must be three lower-case letters, got {currency!r}")
    if not description.strip():
        raise ValueError("description must not be blank")
    if not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise ValueError(f"idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    if len(metadata) > MAX_METADATA_KEYS:
        raise ValueError(f"metadata holds at most {MAX_METADATA_KEYS} keys")
    for key, value in metadata.items():
        # A bracket in a key would change the shape of the form-encoded request.
        if not 0 < len(key) <= MAX_METADATA_KEY or "[" in key or "]" in key:
            raise ValueError(f"metadata key {key!r} is empty, too long or has a bracket")
        if len(value) > MAX_METADATA_VALUE:
            raise ValueError(f"metadata value for {key!r} is over {MAX_METADATA_VALUE} characters")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # Frameworks differ on header case; a plain dict from a test or a queue may use any.
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _signed_at(signature: str | None) -> int | None:
    for part in (signature or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            return int(value)
    return None


def _verified_event(
    payload: bytes, headers: Mapping[str, str], secret: str, tolerance: int, *, now: datetime
) -> dict[str, Any]:
    signature = _header(headers, "stripe-signature")
    try:
        # Stripe's library checks the signature; the age is checked here against the app's
        # clock, since the library's own check reads the wall clock.
        stripe.WebhookSignature.verify_header(payload, signature, secret, None)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected(exc.user_message or "signature verification failed") from exc
    except UnicodeDecodeError as exc:
        # Stripe's check decodes the body first; a non-UTF-8 body is not from Stripe.
        raise WebhookRejected("payload is not UTF-8") from exc
    signed_at = _signed_at(signature)
    if signed_at is None or signed_at < now.timestamp() - tolerance:
        raise WebhookRejected("Timestamp outside the tolerance zone")
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise WebhookRejected("payload is not JSON") from exc
    if not isinstance(event, dict):
        raise WebhookRejected("payload is not a JSON object")
    return event


def _update(event: Mapping[str, Any]) -> PaymentUpdate | None:
    event_id, kind = event.get("id"), event.get("type")
    if event.get("object") != "event" or not isinstance(event_id, str) or not isinstance(kind, str):
        raise WebhookRejected("payload is not a Stripe event")
    status: Literal["succeeded", "failed"]
    if kind == COMPLETED or kind in SUCCEEDED_EVENTS:
        status = "succeeded"
    elif kind in FAILED_EVENTS:
        status = "failed"
    else:
        return None
    data = event.get("data")
    session = data.get("object") if isinstance(data, dict) else None
    if not isinstance(session, dict) or session.get("object") != "checkout.session":
        raise WebhookRejected(f"{kind} does not carry a checkout session")
    # A completed session is "unpaid" when the customer chose a delayed method (a bank debit):
    # the money is not there yet, and an async_payment_* event will settle it.
    if kind == COMPLETED and session.get("payment_status") != "paid":
        return None
    reference, amount = session.get("id"), session.get("amount_total")
    metadata = session.get("metadata") or {}
    if not isinstance(reference, str) or isinstance(amount, bool) or not isinstance(amount, int):
        raise WebhookRejected(f"{kind} lacks the session id or amount_total")
    if not (
        isinstance(metadata, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise WebhookRejected(f"{kind} carries metadata that is not strings")
    return PaymentUpdate(reference, status, amount, event_id, dict(metadata))


def _checkout_status(session: Mapping[str, Any]) -> Status:
    if session.get("payment_status") == "paid":
        return "succeeded"
    if session.get("status") == "expired":
        return "failed"
    return "pending"


def _session_form(
    *,
    amount_cents: int,
    currency: str,
    description: str,
    metadata: Mapping[str, str],
    success_url: str,
    cancel_url: str,
) -> list[tuple[str, str]]:
    """The Checkout Session parameters, flattened into Stripe's bracketed form keys."""
    form = [
        ("mode", "payment"),
        ("success_url", success_url),
        ("cancel_url", cancel_url),
        ("line_items[0][quantity]", "1"),
        ("line_items[0][price_data][currency]", currency),
        ("line_items[0][price_data][unit_amount]", str(amount_cents)),
        ("line_items[0][price_data][product_data][name]", description),
    ]
    form += [(f"metadata[{key}]", value) for key, value in metadata.items()]
    # Also on the PaymentIntent, so the charge itself (dashboard, disputes, payouts) names the job.
    form += [(f"payment_intent_data[metadata][{key}]", value) for key, value in metadata.items()]
    return form


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _stripe_error(body: Mapping[str, Any] | None) -> tuple[str | None, str | None, str | None]:
    """Stripe's ``error`` object as (message, type, code), when the body has one."""
    error = body.get("error") if body is not None else None
    if not isinstance(error, dict):
        return None, None, None
    message, kind, code = error.get("message"), error.get("type"), error.get("code")
    return (
        message if isinstance(message, str) and message else None,
        kind if isinstance(kind, str) else None,
        code if isinstance(code, str) else None,
    )


class StripeProvider:
    """Stripe Checkout: a hosted payment page per job, the outcome by signed webhook."""

    name = "stripe"

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        http: httpx.AsyncClient,
        *,
        base_url: str = "https://api.stripe.com",
        timeout: float = 10.0,
        tolerance_seconds: int = WEBHOOK_TOLERANCE_SECONDS,
        clock: Clock = system_clock,
    ) -> None:
        if not secret_key or not webhook_secret:
            raise ValueError("the Stripe secret key and webhook secret are both required")
        if timeout <= 0 or tolerance_seconds <= 0:
            # Stripe's check treats a tolerance of 0 as "accept any age"; never want that.
            raise ValueError("timeout and tolerance_seconds must be positive")
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.tolerance_seconds = tolerance_seconds
        self.clock = clock

    async def start(
        self,
        *,
        amount_cents: int,
        currency: str,
        description: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
        success_url: str,
        cancel_url: str,
    ) -> Checkout:
        _check_start(amount_cents, currency, description, idempotency_key, metadata)
        form = _session_form(
            amount_cents=amount_cents,
            currency=currency,
            description=description,
            metadata=metadata,
            success_url=success_url,
            cancel_url=cancel_url,
        )
        try:
            response = await self.http.post(
                f"{self.base_url}/v1/checkout/sessions",
                content=urlencode(form).encode("ascii"),
                headers={
                    "Authorization": f"Bearer {self.secret_key}",
                    "Content-Type": "application/x-www-form-urlencoded",
                    # Stripe answers a retry with this key from its record of the first attempt,
                    # so a retry after a lost answer cannot open a second checkout.
                    "Idempotency-Key": idempotency_key,
                    "Stripe-Version": STRIPE_API_VERSION,
                },
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            log.warning("stripe: checkout not created: %s: %s", type(exc).__name__, exc)
            raise PaymentError(UNREACHABLE) from exc
        body = _json_object(response)
        request_id = response.headers.get("request-id")
        if not response.is_success:
            message, kind, code = _stripe_error(body)
            log.warning(
                "stripe: HTTP %s %s/%s (request %s): %s",
                response.status_code,
                kind,
                code,
                request_id,
                message,
            )
            raise PaymentError(
                message or f"the card processor answered HTTP {response.status_code}"
            )
        session_id = body.get("id") if body is not None else None
        url = body.get("url") if body is not None else None
        if body is None or not isinstance(session_id, str) or not isinstance(url, str):
            log.warning(
                "stripe: HTTP %s without a session (request %s)", response.status_code, request_id
            )
            raise PaymentError(UNREADABLE)
        return Checkout(self.name, session_id, url, _checkout_status(body))

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> PaymentUpdate | None:
        return _update(
            _verified_event(
                payload, headers, self.webhook_secret, self.tolerance_seconds, now=self.clock()
            )
        )


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """A ``Stripe-Signature`` value: HMAC-SHA256 of ``"<timestamp>.<payload>"`` under the secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


@dataclass(frozen=True)
class StartCall:
    """One ``start`` as the twin received it."""

    amount_cents: int
    currency: str
    description: str
    idempotency_key: str
    metadata: dict[str, str]
    success_url: str
    cancel_url: str


@dataclass
class _Session:
    call: StartCall
    checkout: Checkout
    created: int
    payment_status: str = "unpaid"
    status: str = "open"


class MemoryProvider:
    """The in-memory twin: checkouts open instantly and are paid when a test (or the demo) says.

    ``pay``/``fail`` return the webhook Stripe would send, signed with ``webhook_secret``; hand it
    to ``parse_webhook`` (directly or through the webhook route) to get the ``PaymentUpdate``.
    Setting ``refusal`` makes every ``start`` fail with that message, as a declined setup would.
    """

    name = "memory"

    def __init__(
        self,
        *,
        # The twin moves no money; its secret only keeps the signature path honest.
        webhook_secret: str = "whsec_memory",  # noqa: S107
        page_url: str = "http://localhost:8000/pay/memory",
        tolerance_seconds: int = WEBHOOK_TOLERANCE_SECONDS,
        clock: Clock = system_clock,
    ) -> None:
        if not webhook_secret or tolerance_seconds <= 0:
            raise ValueError("webhook_secret must be set and tolerance_seconds positive")
        self.webhook_secret = webhook_secret
        self.page_url = page_url.rstrip("/")
        self.tolerance_seconds = tolerance_seconds
        self.clock = clock
        self.calls: list[StartCall] = []
        self.refusal: str | None = None
        self._sessions: dict[str, _Session] = {}
        self._by_key: dict[str, _Session] = {}

    def _now(self) -> int:
        return int(self.clock().timestamp())

    @property
    def created(self) -> int:
        """How many distinct checkouts were opened."""
        return len(self._sessions)

    async def start(
        self,
        *,
        amount_cents: int,
        currency: str,
        description: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
        success_url: str,
        cancel_url: str,
    ) -> Checkout:
        _check_start(amount_cents, currency, description, idempotency_key, metadata)
        call = StartCall(
            amount_cents,
            currency,
            description,
            idempotency_key,
            dict(metadata),
            success_url,
            cancel_url,
        )
        self.calls.append(call)
        if self.refusal is not None:
            raise PaymentError(self.refusal)
        known = self._by_key.get(idempotency_key)
        if known is not None:
            if known.call != call:
                raise PaymentError(IDEMPOTENCY_MISMATCH.format(key=idempotency_key))
            return known.checkout
        # Random, not counted: a restarted demo must not reissue a reference already stored.
        reference = f"cs_memory_{secrets.token_hex(12)}"
        checkout = Checkout(self.name, reference, f"{self.page_url}/{reference}", "pending")
        session = _Session(call, checkout, self._now())
        self._sessions[reference] = self._by_key[idempotency_key] = session
        return checkout

    def checkout_of(self, reference: str) -> tuple[StartCall, str] | None:
        """What checkout ``reference`` asks for, and its status (``open``, ``complete``...)."""
        session = self._sessions.get(reference)
        return (session.call, session.status) if session else None

    def event(self, reference: str, event_type: str, *, paid: bool = True) -> bytes:
        """The body of the event Stripe would send for ``reference``, updating the session."""
        session = self._sessions[reference]
        if event_type in (COMPLETED, *SUCCEEDED_EVENTS, *FAILED_EVENTS):
            session.status = "expired" if event_type == "checkout.session.expired" else "complete"
            settled = event_type in SUCCEEDED_EVENTS or (event_type == COMPLETED and paid)
            session.payment_status = "paid" if settled else "unpaid"
        call = session.call
        body = {
            "id": f"evt_memory_{secrets.token_hex(12)}",
            "object": "event",
            "api_version": STRIPE_API_VERSION,
            "created": self._now(),
            "livemode": False,
            "type": event_type,
            "data": {
                "object": {
                    "id": reference,
                    "object": "checkout.session",
                    "amount_total": call.amount_cents,
                    "currency": call.currency,
                    "created": session.created,
                    "metadata": call.metadata,
                    "mode": "payment",
                    "payment_status": session.payment_status,
                    "status": session.status,
                    "url": None if session.status != "open" else session.checkout.url,
                }
            },
        }
        return json.dumps(body, indent=2).encode()

    def sign(self, payload: bytes, *, timestamp: int | None = None) -> str:
        """The ``Stripe-Signature`` header for ``payload``, signed now unless told otherwise."""
        signed_at = self._now() if timestamp is None else timestamp
        return signature_header(payload, self.webhook_secret, signed_at)

    def deliver(
        self, reference: str, event_type: str, *, paid: bool = True, timestamp: int | None = None
    ) -> Delivery:
        """The signed webhook request for an event on ``reference``."""
        payload = self.event(reference, event_type, paid=paid)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": self.sign(payload, timestamp=timestamp),
        }
        return Delivery(payload, headers)

    def pay(self, reference: str) -> Delivery:
        """The customer paid by card: the ``checkout.session.completed`` webhook."""
        return self.deliver(reference, COMPLETED)

    def fail(self, reference: str) -> Delivery:
        """The customer's delayed payment failed: ``checkout.session.async_payment_failed``."""
        return self.deliver(reference, "checkout.session.async_payment_failed")

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> PaymentUpdate | None:
        return _update(
            _verified_event(
                payload, headers, self.webhook_secret, self.tolerance_seconds, now=self.clock()
            )
        )
