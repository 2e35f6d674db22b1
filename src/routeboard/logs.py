"""Keeping credentials that travel in URLs out of uvicorn's logs.

Some clients can only put their secret in the URL: a GPS tracker's device key (OsmAnd's
``?id=``), a customer's tracking link (``/track/<token>``), a browser's WebSocket bearer token
(``?access_token=``). uvicorn writes each request's path and query to its access log, and each
WebSocket handshake's to its error log, where whoever reads the logs could sign in with them.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

REDACTED = "[redacted]"
SECRET_PARAMETERS = frozenset({"access_token"})
# Only on the OsmAnd route: ``id`` means an ordinary id everywhere else.
OSMAND_PARAMETERS = frozenset({"id"})
_TRACK_TOKEN = re.compile(r"(/track/)[^/?#]+")
# The loggers that print request targets: uvicorn's access log, and its error log, which is
# where WebSocket handshakes are reported.
LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact_target(target: str) -> str:
    """A request target (path and query, as uvicorn logs it) with its credentials replaced."""
    path, mark, query = target.partition("?")
    path = _TRACK_TOKEN.sub(rf"\1{REDACTED}", path)
    if not mark:
        return path
    secret = SECRET_PARAMETERS | (OSMAND_PARAMETERS if "/ingest/osmand" in path else frozenset())
    pairs = []
    for pair in query.split("&"):
        name, eq, _ = pair.partition("=")
        # Compared as the application reads it: ``acc%65ss_token`` is ``access_token`` too.
        if eq and unquote_plus(name) in secret:
            pair = f"{name}={REDACTED}"
        pairs.append(pair)
    return f"{path}?{'&'.join(pairs)}"


class RedactSecrets(logging.Filter):
    """Rewrites the request targets among a record's arguments; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_target(a) if isinstance(a, str) and a.startswith("/") else a
                for a in record.args
            )
        return True


def redact_server_logs() -> None:
    """Install ``RedactSecrets`` on uvicorn's loggers (once; uvicorn's own logging setup keeps
    a logger's filters)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
