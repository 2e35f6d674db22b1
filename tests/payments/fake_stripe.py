"""A local stand-in for Stripe's Checkout Sessions API, speaking Stripe's real HTTP format.

It runs a real HTTP server on 127.0.0.1 (a random free port) in a thread and records every
request. It reads form bodies the way Stripe does (``a[b][0][c]=v`` nests), checks the secret key
(401), the parameters it knows (400 with Stripe's ``error`` object for a missing, unknown or
invalid one, and for a total under the currency's minimum charge), and honours
``Idempotency-Key`` as Stripe does: the first successful answer is kept and replayed for the same
parameters, and the key reused with different parameters is a 400 ``idempotency_error``; requests
that fail validation are not kept. It builds webhook events for its sessions and signs them as
Stripe does. It is written independently of ``routeboard.payments`` so that it can catch the
provider's mistakes rather than share them.

``override`` replaces every answer (an outage); ``delay`` holds the answer back after the work is
done, the way a response lost on a slow network still leaves the session created.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.fakeserver import LocalServer, respond

API_VERSION = "2026-10-28.endive"
# Minimum charge per currency, in the smallest unit (Stripe's published table, abridged).
MINIMUM_CHARGE = {"usd": 50, "cad": 50, "eur": 50, "aud": 50, "gbp": 30, "mxn": 1000}
SYMBOL = {"usd": "$", "cad": "$", "aud": "$", "eur": "€", "gbp": "£", "mxn": "$"}
# The parameters this fake knows, as a tree; anything else is an unknown parameter.
KNOWN: dict[str, Any] = {
    "mode": None,
    "success_url": None,
    "cancel_url": None,
    "client_reference_id": None,
    "customer_email": None,
    "expires_at": None,
    "metadata": "any",
    "line_items": [
        {
            "quantity": None,
            "price": None,
            "price_data": {
                "currency": None,
                "unit_amount": None,
                "product_data": {"name": None, "description": None, "metadata": "any"},
            },
        }
    ],
    "payment_intent_data": {"metadata": "any", "description": None, "receipt_email": None},
}

# (HTTP status, body): a dict is sent as JSON, bytes verbatim.
Reply = tuple[int, Any]


@dataclass(frozen=True)
class Seen:
    """One request as it arrived: header names lower-cased, the form flat and in order."""

    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    body: bytes


class FormError(Exception):
    pass


def _key_path(key: str) -> list[str]:
    match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
    if match is None:
        raise FormError(key)
    return [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def parse_form(body: bytes) -> dict[str, Any]:
    """A form body as Stripe reads it: bracketed keys nest, numeric keys make arrays."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
        parts = _key_path(key)
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part or str(len(node)), {})
            if not isinstance(child, dict):
                raise FormError(key)
            node = child
        last = parts[-1] or str(len(node))
        if isinstance(node.get(last), dict):
            raise FormError(key)
        node[last] = value
    result = _listify(root)
    assert isinstance(result, dict)
    return result


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends with ``payload``."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = str(t).encode() + b"." + payload
    return f"t={t},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def stripe_error(
    status: int, message: str, *, kind: str = "invalid_request_error", **extra: str
) -> Reply:
    error: dict[str, str] = {"message": message, "type": kind, **extra}
    if "code" in extra:
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{extra['code'].replace('_', '-')}"
    return status, {"error": error}


def _missing(param: str) -> Reply:
    return stripe_error(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def _unknown(params: Any, known: Any, prefix: str) -> str | None:
    """The first parameter not in ``known``, spelled as it was sent."""
    if known == "any":
        return None
    if isinstance(known, list):
        if not isinstance(params, list):
            return prefix
        for i, item in enumerate(params):
            found = _unknown(item, known[0], f"{prefix}[{i}]")
            if found:
                return found
        return None
    if known is None:
        return prefix if isinstance(params, dict | list) else None
    if not isinstance(params, dict):
        return prefix
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if key not in known:
            return name
        found = _unknown(value, known[key], name)
        if found:
            return found
    return None


def _integer(value: Any, param: str, minimum: int) -> int | Reply:
    if not (isinstance(value, str) and re.fullmatch(r"-?\d+", value)):
        return stripe_error(
            400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param
        )
    number = int(value)
    if number < minimum:
        return stripe_error(
            400,
            f"This value must be greater than or equal to {minimum}.",
            code="parameter_invalid_integer",
            param=param,
        )
    return number


class FakeStripe(LocalServer):
    """``POST /v1/checkout/sessions`` and ``GET /v1/checkout/sessions/{id}`` as Stripe answers."""

    def __init__(self, secret_key: str) -> None:
        super().__init__()
        self.secret_key = secret_key
        self.requests: list[Seen] = []
        self.sessions: dict[str, dict[str, Any]] = {}
        self.override: Reply | None = None
        # key -> (fingerprint of the request, status, body) of the first successful answer.
        self._kept: dict[str, tuple[tuple[Any, ...], int, bytes]] = {}
        self._lock = threading.Lock()
        fake = self

        class Handle(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, data, extra = fake.handle(self.command, self.path, headers, body)
                if fake.held_back():
                    return  # shutting down: the client gave up long ago
                headers = {
                    "Content-Type": "application/json",
                    "Request-Id": f"req_{secrets.token_hex(7)}",
                    "Stripe-Version": API_VERSION,
                    **extra,
                }
                respond(self, status, data, headers)

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.serve(Handle)

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        path = unquote(urlsplit(target).path)
        try:
            flat = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            flat = {}
        with self._lock:
            self.requests.append(Seen(method, path, headers, flat, body))
            if self.override is not None:
                status, reply = self.override
                return status, _bytes(reply), {}
            denied = self._authenticate(headers.get("authorization"))
            if denied is not None:
                return denied[0], _bytes(denied[1]), {}
            if method == "POST" and path == "/v1/checkout/sessions":
                return self._create(headers.get("idempotency-key"), path, body)
            prefix = "/v1/checkout/sessions/"
            if method == "GET" and path.startswith(prefix) and "/" not in path[len(prefix) :]:
                status, reply = self._retrieve(path[len(prefix) :])
                return status, _bytes(reply), {}
            status, reply = stripe_error(
                404, f"Unrecognized request URL ({method}: {path}).", kind="invalid_request_error"
            )
            return status, _bytes(reply), {}

    def _authenticate(self, authorization: str | None) -> Reply | None:
        if not authorization:
            return stripe_error(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        scheme, _, key = authorization.partition(" ")
        if scheme != "Bearer" or not hmac.compare_digest(key.encode(), self.secret_key.encode()):
            shown = f"{key[:8]}{'*' * max(len(key) - 12, 0)}{key[-4:]}" if len(key) > 12 else key
            return stripe_error(401, f"Invalid API Key provided: {shown}")
        return None

    def _create(self, key: str | None, path: str, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        try:
            params = parse_form(body)
        except (FormError, UnicodeDecodeError) as exc:
            status, reply = stripe_error(400, f"Invalid request body near {exc!s}")
            return status, _bytes(reply), {}
        fingerprint = ("POST", path, tuple(sorted(parse_qsl(body.decode(), True))))
        if key is not None and key in self._kept:
            kept_fingerprint, status, data = self._kept[key]
            if kept_fingerprint != fingerprint:
                status, reply = stripe_error(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                    kind="idempotency_error",
                )
                return status, _bytes(reply), {}
            return status, data, {"Idempotent-Replayed": "true", "Idempotency-Key": key}
        status, reply = self._new_session(params)
        data = _bytes(reply)
        extra = {}
        if key is not None:
            extra["Idempotency-Key"] = key
            if status == 200:
                self._kept[key] = (fingerprint, status, data)
        return status, data, extra

    def _new_session(self, params: dict[str, Any]) -> Reply:
        unknown = _unknown(params, KNOWN, "")
        if unknown:
            return stripe_error(
                400,
                f"Received unknown parameter: {unknown}",
                code="parameter_unknown",
                param=unknown,
            )
        mode = params.get("mode")
        if mode is None:
            return _missing("mode")
        if mode not in ("payment", "setup", "subscription"):
            return stripe_error(
                400,
                f"Invalid mode: must be one of payment, setup, or subscription (got {mode!r})",
                code="parameter_invalid_string",
                param="mode",
            )
        for name in ("success_url", "cancel_url"):
            url = params.get(name)
            if url is not None and not re.match(r"https?://[^/\s]+", url):
                return stripe_error(400, "Not a valid URL", code="url_invalid", param=name)
        items = params.get("line_items")
        if mode == "payment" and not items:
            return _missing("line_items")
        total, currency = 0, None
        for i, item in enumerate(items or []):
            at = f"line_items[{i}]"
            if "quantity" not in item:
                return _missing(f"{at}[quantity]")
            quantity = _integer(item["quantity"], f"{at}[quantity]", 1)
            if isinstance(quantity, tuple):
                return quantity
            price = item.get("price_data")
            if price is None:
                return _missing(f"{at}[price_data]")
            for name in ("currency", "unit_amount"):
                if name not in price:
                    return _missing(f"{at}[price_data][{name}]")
            if "name" not in price.get("product_data", {}):
                return _missing(f"{at}[price_data][product_data][name]")
            amount = _integer(price["unit_amount"], f"{at}[price_data][unit_amount]", 0)
            if isinstance(amount, tuple):
                return amount
            this = price["currency"].lower()
            if this not in MINIMUM_CHARGE:
                return stripe_error(
                    400,
                    f"Invalid currency: {price['currency']}. Stripe currently supports these "
                    f"currencies: {', '.join(sorted(MINIMUM_CHARGE))}",
                    param=f"{at}[price_data][currency]",
                )
            if currency not in (None, this):
                return stripe_error(400, "All line items must use the same currency.")
            currency, total = this, total + quantity * amount
        if currency is not None and total < MINIMUM_CHARGE[currency]:
            least = MINIMUM_CHARGE[currency] / 100
            return stripe_error(
                400,
                "The Checkout Session's total amount due must add up to at least "
                f"{SYMBOL[currency]}{least:.2f} {currency}",
                code="amount_too_small",
            )
        now = int(time.time())
        session_id = f"cs_test_a1{secrets.token_hex(28)}"
        session: dict[str, Any] = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": currency,
            "expires_at": now + 24 * 3600,
            "livemode": False,
            "metadata": params.get("metadata", {}),
            "mode": mode,
            # Since API version 2022-08-01 the PaymentIntent is made when the customer pays.
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
        }
        self.sessions[session_id] = session
        return 200, session

    def _retrieve(self, session_id: str) -> Reply:
        session = self.sessions.get(session_id)
        if session is None:
            return stripe_error(
                404,
                f"No such checkout.session: '{session_id}'",
                code="resource_missing",
                param="session",
            )
        return 200, session

    def event(self, session_id: str, type: str, *, paid: bool = True) -> bytes:
        """The body of the event Stripe sends when ``session_id`` reaches ``type``."""
        with self._lock:
            session = self.sessions[session_id]
            if type == "checkout.session.expired":
                session.update(status="expired", url=None)
            elif type.startswith("checkout.session."):
                settled = type == "checkout.session.async_payment_succeeded" or (
                    type == "checkout.session.completed" and paid
                )
                session.update(
                    status="complete", url=None, payment_status="paid" if settled else "unpaid"
                )
                if session["payment_intent"] is None:
                    session["payment_intent"] = f"pi_{secrets.token_hex(12)}"
            event = {
                "id": f"evt_{secrets.token_hex(12)}",
                "object": "event",
                "api_version": API_VERSION,
                "created": int(time.time()),
                "data": {"object": dict(session)},
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "type": type,
            }
        # Stripe pretty-prints its webhook bodies; the signature covers these exact bytes.
        return json.dumps(event, indent=2).encode()


def _bytes(reply: Any) -> bytes:
    return reply if isinstance(reply, bytes) else json.dumps(reply).encode()
