"""A local stand-in for Twilio's Messages API, speaking Twilio's real HTTP format.

It runs a real HTTP server on 127.0.0.1 (a random free port) in a thread and records every
request. ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` takes the form fields Twilio
takes (``To``, ``From``, ``Body``) behind HTTP Basic auth with ``AccountSid:AuthToken``, and
answers as Twilio does: 201 with the message resource, 401 for bad credentials, 404 for another
account's path, and 400 with Twilio's error object (``code``, ``message``, ``more_info``,
``status``) for a request Twilio would refuse. The numbers Twilio documents for test credentials
behave as documented (``+15005550001`` is not a valid number, ``+15005550004`` has opted out).
It is written independently of ``routeboard.notify`` so that it can catch the channel's
mistakes rather than share them.

``fail_next`` answers the next requests with a server error (an outage) before anything else is
checked, as a failing Twilio edge would; ``delay`` holds every answer back (a slow network).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.fakeserver import LocalServer, respond

API_VERSION = "2010-04-01"
MESSAGES_PATH = re.compile(r"/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json")
E164 = re.compile(r"\+[1-9]\d{1,14}")
MAX_BODY = 1600
# The "To" numbers Twilio's test credentials answer with a fixed error.
MAGIC_TO = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}
# Twilio's generic API errors carry a 20xxx code echoing the HTTP status.
SERVER_ERRORS = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}
# (HTTP status, body as JSON)
Reply = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Seen:
    """One request as it arrived: header names lower-cased, the form flat, Basic auth decoded."""

    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    auth: tuple[str, str] | None


def twilio_error(status: int, code: int, message: str) -> Reply:
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _segments(body: str) -> int:
    # An approximation of Twilio's count: ASCII as GSM-7 (160, or 153 per part), else UCS-2.
    single, part = (160, 153) if body.isascii() else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // part)


class FakeTwilio(LocalServer):
    """Twilio's ``Messages.json`` create endpoint for one account and the numbers it owns."""

    def __init__(
        self, account_sid: str, auth_token: str, numbers: frozenset[str] = frozenset()
    ) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        # +15005550006 is the "From" number Twilio's test credentials always accept.
        self.numbers = numbers | {"+15005550006"}
        self.requests: list[Seen] = []
        self.messages: list[dict[str, Any]] = []
        self._failures: list[int] = []
        self._lock = threading.Lock()

        fake = self

        class Handle(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, reply = fake.handle(self.command, self.path, headers, body)
                data = json.dumps(reply).encode()
                if fake.held_back():
                    return  # shutting down: the client gave up long ago
                headers = {
                    "Content-Type": "application/json; charset=utf-8",
                    "Twilio-Request-Id": f"RQ{secrets.token_hex(16)}",
                }
                if status == 401:
                    headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
                respond(self, status, data, headers)

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.serve(Handle)

    def fail_next(self, times: int = 1, status: int = 503) -> None:
        """Answer the next ``times`` requests with ``status`` and Twilio's error for it."""
        if status not in SERVER_ERRORS:
            raise ValueError(f"no Twilio error known for HTTP {status}")
        with self._lock:
            self._failures.extend([status] * times)

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        path = unquote(urlsplit(target).path)
        try:
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            form = {}
        auth = _basic_auth(headers.get("authorization"))
        with self._lock:
            self.requests.append(Seen(method, path, headers, form, auth))
            if self._failures:
                status = self._failures.pop(0)
                return twilio_error(status, *SERVER_ERRORS[status])
            if auth is None or not (
                hmac.compare_digest(auth[0].encode(), self.account_sid.encode())
                and hmac.compare_digest(auth[1].encode(), self.auth_token.encode())
            ):
                return twilio_error(401, 20003, "Authenticate")
            match = MESSAGES_PATH.fullmatch(path)
            if method != "POST" or match is None or match["sid"] != self.account_sid:
                return twilio_error(404, 20404, f"The requested resource {path} was not found")
            return self._create(form)

    def _create(self, form: dict[str, str]) -> Reply:
        to, sender, text = form.get("To"), form.get("From"), form.get("Body")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not sender:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not text:
            return twilio_error(400, 21602, "Message body is required.")
        if len(text) > MAX_BODY:
            return twilio_error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if not E164.fullmatch(to):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to in MAGIC_TO:
            return twilio_error(400, *MAGIC_TO[to])
        if sender not in self.numbers:
            return twilio_error(
                400,
                21606,
                f"The From phone number {sender} is not a valid, SMS-capable inbound phone "
                "number or short code for your account.",
            )
        sid = f"SM{secrets.token_hex(16)}"
        now = format_datetime(datetime.now(UTC))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        message: dict[str, Any] = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": text,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(_segments(text)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": to,
            "uri": f"{uri}.json",
        }
        self.messages.append(message)
        return 201, message
