"""HTTP hardening as pure ASGI middleware: response security headers and a request body cap.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses such as the event stream pass
through untouched and unbuffered.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Pages load only their own scripts and styles; images may be local blobs (camera previews).
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)
# The interactive API reference pulls its viewer from a CDN and uses an inline bootstrap script.
DOCS_PATHS = ("/docs", "/redoc", "/docs/oauth2-redirect")


def secure_headers(path: str, given: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``given`` plus the hardening headers a response to ``path`` must carry."""
    headers = list(given)
    names = {k.lower() for k, _ in headers}
    extra = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"permissions-policy", b"geolocation=(self), camera=(self), microphone=()"),
    ]
    content_type = dict(headers).get(b"content-type", b"")
    if content_type.startswith(b"text/html") and path not in DOCS_PATHS:
        extra.append((b"content-security-policy", PAGE_CSP.encode()))
    return headers + [(k, v) for k, v in extra if k not in names]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = secure_headers(path, message.get("headers", []))
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413, whether declared up front or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # An HTTPException passes through FastAPI's body parsing untouched.
                    raise HTTPException(413, f"request bodies are limited to {self.limit} bytes")
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": "payload_too_large",
                "message": f"request bodies are limited to {self.limit} bytes",
                "details": None,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


NUL_IN_JSON = b"\\u0000"
NUL_IN_FORM = b"%00"
NUL_MESSAGE = "a text contains a NUL character (\\u0000), which cannot be stored"
# Report batches refuse a NUL per report (``ingest.schemas.json_problem``): one bad report
# must not cost the other 999.
PER_REPORT_PATHS = ("/api/v1/ingest/",)


class RefuseNul:
    """Refuse a NUL character in the query string or in a JSON or form body with 422.

    PostgreSQL cannot keep a NUL in any text (it was a 500 there), and SQLite would keep it
    where no text should have one; refusing it at the door treats both alike. Uploads
    (multipart) are not searched: a photo's bytes may hold anything. A JSON text holding a
    backslash followed by ``u0000`` is refused too: rare enough to accept.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(PER_REPORT_PATHS):
            await self.app(scope, receive, send)
            return
        if NUL_IN_FORM in scope.get("query_string", b"") or "\x00" in scope["path"]:
            await _json_refusal(send, 422, "invalid_input", NUL_MESSAGE)
            return
        kind = dict(scope.get("headers", [])).get(b"content-type", b"").lower().split(b";")[0]
        # FastAPI reads a body as JSON when it says so (``+json`` too) or says nothing at all.
        if not kind or kind.endswith((b"/json", b"+json")):
            needles = (NUL_IN_JSON, b"\x00")
        elif kind == b"application/x-www-form-urlencoded":
            needles = (NUL_IN_FORM, b"\x00")
        else:
            await self.app(scope, receive, send)
            return
        tail = b""

        async def searched() -> Message:
            nonlocal tail
            message = await receive()
            if message["type"] == "http.request":
                chunk = tail + message.get("body", b"")
                if any(needle in chunk for needle in needles):
                    # Like the body cap's: passes through FastAPI's body parsing untouched.
                    raise HTTPException(422, NUL_MESSAGE)
                tail = chunk[-(len(NUL_IN_JSON) - 1) :]
            return message

        await self.app(scope, searched, send)


async def _json_refusal(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": code, "message": message, "details": None}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
