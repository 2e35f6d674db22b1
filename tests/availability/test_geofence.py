"""Geofence arrivals and departures: hysteresis and dwell keep boundary jitter from flapping."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routeboard.availability.geofence import (
    Fence,
    FenceState,
    Fix,
    Transition,
    distance_m,
    step,
    step_all,
)

EARTH_RADIUS_M = 6_371_008.8
RADIUS = 100.0
SHOP = Fence("shop", 33.1972, -96.6398, RADIUS)
T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
INSIDE = FenceState(inside=True, last_at=T0 - timedelta(minutes=5), since=T0 - timedelta(hours=1))


def fix_at(
    fence: Fence,
    metres: float,
    seconds: float,
    *,
    bearing_deg: float = 0.0,
    accuracy_m: float | None = None,
) -> Fix:
    """A fix ``metres`` from the fence's centre on ``bearing_deg``, ``seconds`` after T0."""
    phi1, lambda1 = math.radians(fence.lat), math.radians(fence.lon)
    delta, theta = metres / EARTH_RADIUS_M, math.radians(bearing_deg)
    phi2 = math.asin(
        math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta)
    )
    lambda2 = lambda1 + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi1),
        math.cos(delta) - math.sin(phi1) * math.sin(phi2),
    )
    return Fix(
        math.degrees(phi2),
        math.degrees(lambda2),
        T0 + timedelta(seconds=seconds),
        accuracy_m,
    )


def run(
    state: FenceState, fence: Fence, fixes: list[Fix]
) -> tuple[FenceState, list[Transition | None]]:
    events: list[Transition | None] = []
    for fix in fixes:
        state, event = step(state, fence, fix)
        events.append(event)
    return state, events


def test_mckinney_to_mesquite_is_about_48_km() -> None:
    assert distance_m(33.1972, -96.6398, 32.7668, -96.5992) == pytest.approx(48_000, rel=0.01)


def test_distance_is_zero_to_itself_and_symmetric() -> None:
    assert distance_m(33.1972, -96.6398, 33.1972, -96.6398) == 0
    there = distance_m(33.1972, -96.6398, 32.7668, -96.5992)
    assert distance_m(32.7668, -96.5992, 33.1972, -96.6398) == pytest.approx(there)


def test_the_test_helper_places_fixes_at_the_distance_asked() -> None:
    for bearing in (0, 90, 200):
        fix = fix_at(SHOP, 115, 0, bearing_deg=bearing)
        assert distance_m(SHOP.lat, SHOP.lon, fix.lat, fix.lon) == pytest.approx(115, abs=1e-6)


def test_arrive_is_reported_only_after_the_dwell() -> None:
    state, events = run(FenceState(), SHOP, [fix_at(SHOP, 50, s) for s in (0, 30, 59, 60, 90)])
    assert events == [None, None, None, "arrive", None]
    assert state == FenceState(inside=True, last_at=T0 + timedelta(seconds=90), since=T0)


def test_a_zero_dwell_arrives_on_the_first_fix_inside() -> None:
    state, event = step(FenceState(), SHOP, fix_at(SHOP, 10, 0), dwell_seconds=0)
    assert event == "arrive"
    assert state.inside


def test_leaving_before_the_dwell_cancels_the_arrival() -> None:
    # Out to the band (1.1 r) at 30 s: the wait restarts at 45 s, so 90 s is too early.
    distances_and_times = [(50, 0), (110, 30), (50, 45), (50, 90), (50, 105)]
    state, events = run(FenceState(), SHOP, [fix_at(SHOP, d, s) for d, s in distances_and_times])
    assert events == [None, None, None, None, "arrive"]
    assert state.since == T0 + timedelta(seconds=45)


def test_the_band_between_r_and_the_exit_radius_never_departs() -> None:
    state, events = run(INSIDE, SHOP, [fix_at(SHOP, 119, s) for s in range(0, 3600, 30)])
    assert set(events) == {None}
    assert state.inside
    assert state.pending_since is None


def test_depart_needs_the_exit_radius_for_the_dwell() -> None:
    state, events = run(INSIDE, SHOP, [fix_at(SHOP, 125, s) for s in (0, 30, 59, 60)])
    assert events == [None, None, None, "depart"]
    assert state == FenceState(inside=False, last_at=T0 + timedelta(seconds=60), since=T0)


def test_coming_back_into_the_band_cancels_the_departure() -> None:
    distances_and_times = [(125, 0), (115, 40), (125, 50), (125, 100), (125, 110)]
    _, events = run(INSIDE, SHOP, [fix_at(SHOP, d, s) for d, s in distances_and_times])
    assert events == [None, None, None, None, "depart"]


def test_an_exit_factor_of_one_departs_just_beyond_the_radius() -> None:
    state, event = step(INSIDE, SHOP, fix_at(SHOP, 101, 0), dwell_seconds=0, exit_factor=1.0)
    assert event == "depart"
    assert not state.inside


def test_an_out_of_order_fix_changes_nothing() -> None:
    state, _ = run(FenceState(), SHOP, [fix_at(SHOP, 50, 0), fix_at(SHOP, 50, 30)])
    for late in (fix_at(SHOP, 50, 29), fix_at(SHOP, 500, 29), fix_at(SHOP, 50, -3600)):
        assert step(state, SHOP, late, dwell_seconds=0) == (state, None)
    # The late fix did not count towards the dwell either: the arrival still needs 60 s.
    assert step(state, SHOP, fix_at(SHOP, 50, 60))[1] == "arrive"


def test_a_fix_at_the_same_time_as_the_last_is_applied() -> None:
    state, _ = step(FenceState(), SHOP, fix_at(SHOP, 50, 0))
    assert step(state, SHOP, fix_at(SHOP, 50, 0), dwell_seconds=0)[1] == "arrive"


def test_an_inaccurate_fix_is_ignored() -> None:
    state, _ = step(FenceState(), SHOP, fix_at(SHOP, 50, 0))
    # 201 m > 2 r: it neither cancels the wait (it reads as outside) nor moves last_at.
    assert step(state, SHOP, fix_at(SHOP, 500, 30, accuracy_m=201)) == (state, None)
    assert step(state, SHOP, fix_at(SHOP, 50, 60, accuracy_m=201)) == (state, None)
    # Exactly 2 r is still usable.
    assert step(state, SHOP, fix_at(SHOP, 50, 60, accuracy_m=200))[1] == "arrive"


def test_a_naive_datetime_is_refused() -> None:
    naive = datetime(2026, 12, 1, 15, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        Fix(SHOP.lat, SHOP.lon, naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        FenceState(last_at=naive)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dwell_seconds": -1}, "dwell"),
        ({"dwell_seconds": math.nan}, "dwell"),
        ({"exit_factor": 0.9}, "exit factor"),
        ({"exit_factor": math.inf}, "exit factor"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        step(FenceState(), SHOP, fix_at(SHOP, 0, 0), **kwargs)


def test_bad_fences_and_fixes_are_refused() -> None:
    with pytest.raises(ValueError, match="radius"):
        Fence("x", 33.0, -96.0, 0)
    with pytest.raises(ValueError, match="latitude"):
        Fence("x", -96.0, 33.0, 100)  # swapped
    with pytest.raises(ValueError, match="accuracy"):
        Fix(33.0, -96.0, T0, accuracy_m=-1)


def test_step_all_steps_every_fence_and_reports_departures_first() -> None:
    job = Fence("job-7", 33.1990, -96.6398, 150.0)  # 200 m north of the shop
    fix = fix_at(SHOP, 200, 0)
    states = {
        "shop": FenceState(inside=True, pending_since=T0 - timedelta(minutes=2)),
        "job-7": FenceState(pending_since=T0 - timedelta(minutes=2)),
        "finished-job": FenceState(inside=True),
    }
    new_states, events = step_all(states, [job, SHOP], fix)
    assert events == [("shop", "depart"), ("job-7", "arrive")]
    assert set(new_states) == {"shop", "job-7"}
    assert new_states["job-7"].inside and not new_states["shop"].inside


def test_step_all_starts_unknown_fences_outside() -> None:
    new_states, events = step_all({}, [SHOP], fix_at(SHOP, 10, 0), dwell_seconds=0)
    assert events == [("shop", "arrive")]
    assert new_states["shop"].inside


def test_step_all_refuses_duplicate_keys() -> None:
    with pytest.raises(ValueError, match="unique"):
        step_all({}, [SHOP, SHOP], fix_at(SHOP, 10, 0))


# A walk around the boundary: each fix moves at most 5 m (0.05 r) from the last, bounced back into
# [0.9 r, 1.15 r], on a wandering bearing, 1 s to 2 min apart.
walks = st.tuples(
    st.floats(0.9, 1.15),
    st.lists(
        st.tuples(st.floats(-0.05, 0.05), st.floats(0, 360), st.floats(1, 120)),
        max_size=200,
    ),
)


def jitter(start: float, moves: list[tuple[float, float, float]]) -> list[Fix]:
    fixes, fraction, seconds = [], start, 0.0
    for move, bearing, gap in moves:
        fraction = min(1.15, max(0.9, fraction + move))
        seconds += gap
        fixes.append(fix_at(SHOP, fraction * RADIUS, seconds, bearing_deg=bearing))
    return fixes


@given(walks, st.booleans())
def test_jitter_at_the_boundary_makes_at_most_one_transition(
    walk: tuple[float, list[tuple[float, float, float]]], inside: bool
) -> None:
    start = INSIDE if inside else FenceState()
    state, events = run(start, SHOP, jitter(*walk))
    transitions = [event for event in events if event is not None]
    # Never beyond 1.2 r, so never a departure; at most the one arrival the dwell allows.
    assert transitions in ([], ["arrive"])
    assert state.inside or not inside


# Anywhere from the centre to 3 r, 0 s to 5 min apart (equal times included).
wanders = st.lists(
    st.tuples(st.floats(0, 3 * RADIUS), st.floats(0, 360), st.floats(0, 300)), max_size=100
)


@given(wanders)
def test_transitions_alternate_and_are_at_least_a_dwell_apart(
    moves: list[tuple[float, float, float]],
) -> None:
    state, seconds = FenceState(), 0.0
    confirmed: list[tuple[Transition, datetime]] = []
    for metres, bearing, gap in moves:
        seconds += gap
        fix = fix_at(SHOP, metres, seconds, bearing_deg=bearing)
        state, event = step(state, SHOP, fix)
        if event is not None:
            confirmed.append((event, fix.at))
    kinds = [kind for kind, _ in confirmed]
    assert kinds == ["arrive", "depart"] * (len(kinds) // 2) + ["arrive"] * (len(kinds) % 2)
    for (_, earlier), (_, later) in itertools.pairwise(confirmed):
        assert later - earlier >= timedelta(seconds=60)
