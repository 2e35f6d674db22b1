"""Arrive/depart events from noisy GPS fixes: circles around shops and job sites.

Pure: no I/O, no clock. The service loads a technician's fence states, feeds each fix through
``step_all`` and persists the states it gets back; the events it gets back go on the board.

Phone fixes wander by tens of metres, so a technician parked at the kerb sits right on the
boundary of a job's circle. Two mechanisms keep that from flapping:

- **Hysteresis.** A fix counts as *in* at ``distance <= r`` and as *out* only beyond
  ``exit_factor * r`` (default 1.2). Between the two is a band that confirms neither.
- **Dwell.** A change of state is reported only once every usable fix for at least
  ``dwell_seconds`` (default 60) has been on the other side: in for an arrival, out for a
  departure. The same setting serves both directions; a departure that needs a longer wait is a
  caller's choice of a second call, not another knob here. A fix that is not on the other side —
  the band included — cancels the wait, so "stayed continuously" means what it says, and a
  wander between 0.9 r and 1.15 r can at most arrive once and never depart.

Choices, and why:

- **Accuracy only decides whether a fix is usable.** A fix whose reported ``accuracy_m`` exceeds
  ``MAX_ACCURACY_FACTOR`` × r (2 × r) cannot tell in from out and is ignored outright: it neither
  advances ``last_at`` nor starts, extends or cancels a wait. Usable fixes are judged by their
  centre alone; shrinking the circle by the accuracy would make small fences unreachable with a
  typical 10–30 m phone fix, and the band plus the dwell already absorb the noise.
- **Between two fixes the technician is assumed to have stayed where both put them.** The dwell
  is measured from the first fix of the run to the current one, so an arrival is reported on the
  first fix at least ``dwell_seconds`` after the run began (immediately when the dwell is 0).
- **Out of order changes nothing.** A fix recorded before ``last_at`` (devices upload buffered
  fixes late) returns the same state and no event; a fix at exactly ``last_at`` is applied.
- **Timezone-aware datetimes only**; a naive one raises ``ValueError`` where it is built, since
  comparing it with an aware one would fail later and far from the cause.
- ``FenceState.since`` keeps when the run that confirmed the current state began — the moment the
  technician really arrived or left, as opposed to when the dwell let us say so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from routeboard.travel.estimate import Point, great_circle_meters

Transition = Literal["arrive", "depart"]

DWELL_SECONDS = 60.0
EXIT_FACTOR = 1.2
MAX_ACCURACY_FACTOR = 2.0


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware: {value!r}")


@dataclass(frozen=True)
class Fence:
    """A circle of ``radius_m`` metres around a shop or a job site, named by ``key``."""

    key: str
    lat: float
    lon: float
    radius_m: float

    def __post_init__(self) -> None:
        Point(self.lat, self.lon)  # validates the range (and catches swapped lat/lon)
        if not (math.isfinite(self.radius_m) and self.radius_m > 0):
            raise ValueError(f"radius must be a positive number of metres: {self.radius_m!r}")


@dataclass(frozen=True)
class Fix:
    """One GPS position and when it was recorded; ``accuracy_m`` as the device reports it."""

    lat: float
    lon: float
    at: datetime
    accuracy_m: float | None = None

    def __post_init__(self) -> None:
        Point(self.lat, self.lon)
        _require_aware("fix time", self.at)
        if self.accuracy_m is not None and not (
            math.isfinite(self.accuracy_m) and self.accuracy_m >= 0
        ):
            raise ValueError(f"accuracy must be a non-negative number: {self.accuracy_m!r}")


@dataclass(frozen=True)
class FenceState:
    """Where one technician stands with one fence.

    ``inside`` is the confirmed state and ``since`` when its run began; ``pending_since`` is when
    the fixes started pointing the other way (None while they agree); ``last_at`` is the time of
    the last fix applied.
    """

    inside: bool = False
    pending_since: datetime | None = None
    last_at: datetime | None = None
    since: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware("pending_since", self.pending_since)
        _require_aware("last_at", self.last_at)
        _require_aware("since", self.since)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine metres on the mean-radius Earth (6,371,008.8 m), shared with travel estimates."""
    return great_circle_meters(Point(lat1, lon1), Point(lat2, lon2))


def _check_settings(dwell_seconds: float, exit_factor: float) -> None:
    if not (math.isfinite(dwell_seconds) and dwell_seconds >= 0):
        raise ValueError(f"dwell must be a non-negative number of seconds: {dwell_seconds!r}")
    # Below 1 the exit circle would sit inside the entry circle: a fix could be in and out at once.
    if not (math.isfinite(exit_factor) and exit_factor >= 1):
        raise ValueError(f"exit factor must be at least 1: {exit_factor!r}")


def step(
    state: FenceState,
    fence: Fence,
    fix: Fix,
    *,
    dwell_seconds: float = DWELL_SECONDS,
    exit_factor: float = EXIT_FACTOR,
) -> tuple[FenceState, Transition | None]:
    """Apply one fix to one fence: the new state, and the event it confirms if any."""
    _check_settings(dwell_seconds, exit_factor)
    if state.last_at is not None and fix.at < state.last_at:
        return state, None
    if fix.accuracy_m is not None and fix.accuracy_m > MAX_ACCURACY_FACTOR * fence.radius_m:
        return state, None

    distance = distance_m(fence.lat, fence.lon, fix.lat, fix.lon)
    # Does the fix point across the confirmed state? In while out; beyond the exit circle while in.
    if state.inside:
        crossing = distance > exit_factor * fence.radius_m
    else:
        crossing = distance <= fence.radius_m
    if not crossing:
        return FenceState(inside=state.inside, last_at=fix.at, since=state.since), None

    pending_since = fix.at if state.pending_since is None else state.pending_since
    if (fix.at - pending_since).total_seconds() < dwell_seconds:
        return FenceState(state.inside, pending_since, fix.at, state.since), None
    inside = not state.inside
    return FenceState(inside=inside, last_at=fix.at, since=pending_since), (
        "arrive" if inside else "depart"
    )


def step_all(
    states: Mapping[str, FenceState],
    fences: Sequence[Fence],
    fix: Fix,
    *,
    dwell_seconds: float = DWELL_SECONDS,
    exit_factor: float = EXIT_FACTOR,
) -> tuple[dict[str, FenceState], list[tuple[str, Transition]]]:
    """Apply one fix to every fence: a state per fence, and the events as ``(key, event)``.

    A fence without a state starts outside. The result holds exactly the given fences, so states
    of fences no longer watched (a finished job) drop out. Departures come before arrivals, each
    in fence order, so a reader replaying the events never sees a technician at two places that
    one fix has just moved them between.
    """
    keys = [fence.key for fence in fences]
    if len(set(keys)) != len(keys):
        raise ValueError(f"fence keys must be unique: {keys!r}")
    new_states: dict[str, FenceState] = {}
    departs: list[tuple[str, Transition]] = []
    arrives: list[tuple[str, Transition]] = []
    for fence in fences:
        new_state, event = step(
            states.get(fence.key, FenceState()),
            fence,
            fix,
            dwell_seconds=dwell_seconds,
            exit_factor=exit_factor,
        )
        new_states[fence.key] = new_state
        if event == "depart":
            departs.append((fence.key, event))
        elif event == "arrive":
            arrives.append((fence.key, event))
    return new_states, departs + arrives
