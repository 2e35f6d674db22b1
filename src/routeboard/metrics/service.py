"""Counters an operator alerts on: sign-ins, refusals and what the API answers.

One registry per process (Prometheus' model): with several instances, the scraper sums them.
Labels are small closed sets; user names, ids and secrets never become label values.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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

INGESTED = Counter(
    "routeboard_ingest_reports_total",
    "Availability reports by source, outcome (accepted, duplicate, rejected) and reason",
    ["source", "outcome", "reason"],
    registry=REGISTRY,
)
INGEST_LAG = Histogram(
    "routeboard_ingest_lag_seconds",
    "From a report's recorded_at to it being stored",
    ["source"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
    registry=REGISTRY,
)
FRESH = Gauge(
    "routeboard_availability_fresh_ratio",
    "Share of active technicians heard from within the availability TTL (completeness)",
    registry=REGISTRY,
)
OFFLINE_TECHNICIANS = Gauge(
    "routeboard_availability_offline_technicians",
    "Active technicians currently offline (no report within the TTL)",
    registry=REGISTRY,
)
BROADCASTER_UP = Gauge(
    "routeboard_broadcaster_up",
    "1 while live events travel by the event bus (Redis), 0 while degraded to reading the table",
    registry=REGISTRY,
)
CAUGHT_UP = Counter(
    "routeboard_events_caught_up_total",
    "Events this instance read from the table because the event bus was down",
    registry=REGISTRY,
)
SOURCES = frozenset({"app", "gps", "mqtt", "webhook", "manual"})

security_log = logging.getLogger("routeboard.security")


def _source(source: object) -> str:
    # Label values stay a closed set whatever a sender puts in its report.
    return source if isinstance(source, str) and source in SOURCES else "unknown"


def ingested(source: object, outcome: str, reason: str | None, count: int = 1) -> None:
    INGESTED.labels(source=_source(source), outcome=outcome, reason=reason or "").inc(count)


def observe_lag(source: object, seconds: float) -> None:
    INGEST_LAG.labels(source=_source(source)).observe(max(seconds, 0.0))


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
