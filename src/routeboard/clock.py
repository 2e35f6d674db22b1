"""The one place that reads the wall clock.

Every rule that depends on the time (token and link expiry, lateness, quiet hours, "today",
offline sweeps, retention, validation bounds) is handed a ``Clock`` and reads nothing else, so
tests run at fixed instants and the demo can live on a day of its own. ``tests/test_clock.py``
fails when code outside this module reads the date or time directly.

Monotonic timers (``time.monotonic``, ``loop.time()``) stay where they are: they measure how
long something took or how long to wait, never what day it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real time, in UTC: the production clock."""
    return datetime.now(UTC)


class ShiftedClock:
    """The real clock moved to start at ``start``, running at ``speed`` times the real pace.

    The demo lives on one of these: it starts at the demo day's "now" whatever the real date, so
    the board, the phones and every rule agree on one day that has work in it.
    """

    def __init__(self, start: datetime, *, speed: float = 1.0) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock starts at an instant, not a naive time")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start.astimezone(UTC)
        self.speed = speed
        self._origin = time.monotonic()

    def __call__(self) -> datetime:
        elapsed = time.monotonic() - self._origin
        return self.start + timedelta(seconds=elapsed * self.speed)


def wall_microseconds() -> int:
    """The real time in microseconds, for version stamps only, never for a rule.

    A cached copy's version must beat any copy an earlier process or database left behind, so
    it follows the real clock even where the app runs on another (a test's, the demo's).
    """
    return time.time_ns() // 1000
