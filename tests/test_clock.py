"""One clock: nothing outside ``routeboard.clock`` reads the date or the time of day itself.

Read from the source's syntax tree, so an import alias or a ``from datetime import datetime`` does
not hide a call. Monotonic timers are not on the list: they measure durations, not dates.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from routeboard.clock import ShiftedClock

SRC = Path(__file__).resolve().parents[1] / "src" / "routeboard"
# The clock's own module is the one reader; nothing else earns a place here yet.
ALLOWED = {SRC / "clock.py"}
# (object, attribute) pairs whose call reads the wall clock.
WALL_CLOCK = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "localtime"),
    ("time", "gmtime"),
    ("time", "ctime"),
    ("time", "asctime"),
    ("time", "strftime"),
}
# Zero-argument calls of these read "now" too (``time.localtime()``, ``time.gmtime()``).
NEEDS_NO_ARGS = {("time", "localtime"), ("time", "gmtime"), ("time", "ctime"), ("time", "asctime")}


def _dotted(node: ast.expr) -> list[str]:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return parts[::-1]


def wall_clock_reads(source: str) -> list[tuple[int, str]]:
    """(line, call) of every direct read of the wall clock in ``source``."""
    tree = ast.parse(source)
    # Names bound by ``from datetime import datetime as dt`` or ``from time import time``.
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("datetime", "time"):
            for name in node.names:
                aliases[name.asname or name.name] = (
                    name.name if node.module == "datetime" else f"time.{name.name}"
                )
        elif isinstance(node, ast.Import):
            for name in node.names:
                if name.name in ("datetime", "time"):
                    aliases[name.asname or name.name] = name.name
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        parts = _dotted(node.func)
        if not parts:
            continue
        head = aliases.get(parts[0], parts[0]).split(".")
        resolved = [*head, *parts[1:]]
        pair = (resolved[-2], resolved[-1]) if len(resolved) >= 2 else None
        if pair in WALL_CLOCK and not (pair in NEEDS_NO_ARGS and node.args):
            found.append((node.lineno, ".".join(parts)))
    return found


def test_no_module_outside_the_clock_reads_the_wall_clock() -> None:
    offenders = [
        f"{path.relative_to(SRC.parent)}:{line}: {call}()"
        for path in sorted(SRC.rglob("*.py"))
        if path not in ALLOWED
        for line, call in wall_clock_reads(path.read_text())
    ]
    assert offenders == [], "read the app's clock instead:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "source",
    [
        "import datetime\ndatetime.datetime.now()",
        "from datetime import datetime\ndatetime.now(UTC)",
        "from datetime import datetime as dt\ndt.utcnow()",
        "from datetime import date\ndate.today()",
        "import time\ntime.time()",
        "from time import time\ntime()",
        "import time as t\nt.time_ns()",
        "import time\ntime.localtime()",
    ],
)
def test_the_check_sees_each_way_of_reading_it(source: str) -> None:
    assert len(wall_clock_reads(source)) == 1


@pytest.mark.parametrize(
    "source",
    [
        "import time\ntime.monotonic()",
        "import time\ntime.perf_counter()",
        "import time\ntime.localtime(0)",
        "from datetime import datetime\ndatetime.fromisoformat('2026-12-05')",
        "clock.now()",
    ],
)
def test_durations_and_parsing_are_not_reads(source: str) -> None:
    assert wall_clock_reads(source) == []


def test_a_shifted_clock_starts_where_it_is_told_and_runs_at_its_pace() -> None:
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 12, 4, 18, 30, tzinfo=UTC)
    clock = ShiftedClock(start, speed=1000.0)
    first, second = clock(), clock()
    assert start <= first <= second < start + timedelta(minutes=5)
    with pytest.raises(ValueError, match="naive"):
        ShiftedClock(datetime(2026, 12, 4, 12, 30))
