"""Counters an operator alerts on: sign-ins, refusals and what the API answers.

One registry per process (Prometheus' model): with several instances, the scraper sums them.
Labels are small closed sets; user names, ids and secrets never become label values.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

AUTH_EVENTS = Counter(
    "routeboard_auth_events_total",
    "Sign-in and token events by outcome",
    ["event"],
    registry=REGISTRY,
)
DENIED = Counter(
    "routeboard_denied_requests_total",
    "Requests refused for authentication or access reasons",
    ["status", "reason"],
    registry=REGISTRY,
)

security_log = logging.getLogger("routeboard.security")


def auth_event(event: str, **fields: object) -> None:
    """Count and log an authentication event; ``fields`` must never carry a secret."""
    AUTH_EVENTS.labels(event=event).inc()
    security_log.info("auth %s %s", event, " ".join(f"{k}={v}" for k, v in fields.items()))


def denied(status: int, reason: str, **fields: object) -> None:
    DENIED.labels(status=str(status), reason=reason).inc()
    security_log.warning(
        "denied %s %s %s", status, reason, " ".join(f"{k}={v}" for k, v in fields.items())
    )


def exposition() -> bytes:
    return generate_latest(REGISTRY)
