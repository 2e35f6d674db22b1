"""The offline estimate: calibrated on real DFW trips, and shaped the way drive times are."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routeboard.travel.estimate import (
    Leg,
    Point,
    congestion,
    estimate,
    estimate_matrix,
    great_circle_meters,
)

DALLAS = ZoneInfo("America/Chicago")
MCKINNEY = Point(33.1972, -96.6398)
MESQUITE = Point(32.7668, -96.5992)
PLANO = Point(33.0198, -96.6989)
FRISCO = Point(33.1507, -96.8236)
TUESDAY_0900 = datetime(2026, 12, 1, 9, 0, tzinfo=DALLAS)
SUNDAY_0900 = datetime(2026, 12, 6, 9, 0, tzinfo=DALLAS)
TUESDAY_0200 = datetime(2026, 12, 1, 2, 0, tzinfo=DALLAS)


def test_mckinney_to_mesquite_on_a_weekday_morning_is_about_45_minutes() -> None:
    leg = estimate(MCKINNEY, MESQUITE, TUESDAY_0900)
    assert 40 <= leg.minutes <= 50
    assert leg.minutes == pytest.approx(45, abs=1.5)
    assert leg.approximate is False
    assert leg.source == "estimate"


def test_plano_to_frisco_on_a_weekday_morning_is_about_20_minutes() -> None:
    leg = estimate(PLANO, FRISCO, TUESDAY_0900)
    assert 15 <= leg.minutes <= 25
    assert leg.minutes == pytest.approx(20, abs=1.5)


@pytest.mark.parametrize("when", [SUNDAY_0900, TUESDAY_0200], ids=["sunday-0900", "tuesday-0200"])
def test_weekends_and_nights_are_faster_than_the_weekday_morning(when: datetime) -> None:
    for a, b in [(MCKINNEY, MESQUITE), (PLANO, FRISCO)]:
        assert estimate(a, b, when).minutes < estimate(a, b, TUESDAY_0900).minutes


def test_the_evening_peak_is_the_slowest_and_midday_sits_between() -> None:
    day = TUESDAY_0900.replace(hour=0)
    factors = {h: congestion(day + timedelta(hours=h)) for h in range(24)}
    assert max(factors, key=lambda h: factors[h]) == 17
    assert factors[3] < factors[12] < factors[8]


def test_congestion_moves_smoothly_through_the_day() -> None:
    # Piecewise linear: no jump between neighbouring minutes, so bucket edges do not matter much.
    day = TUESDAY_0900.replace(hour=0)
    for minute in range(0, 7 * 24 * 60, 7):
        t = day + timedelta(minutes=minute)
        assert abs(congestion(t) - congestion(t + timedelta(minutes=1))) < 0.02


def test_the_same_point_costs_nothing() -> None:
    assert estimate(PLANO, PLANO, TUESDAY_0900) == Leg(0.0, 0.0, False, "estimate")


def test_the_distance_is_the_great_circle_times_circuity() -> None:
    leg = estimate(PLANO, FRISCO, TUESDAY_0900)
    assert great_circle_meters(PLANO, FRISCO) == pytest.approx(18_620, rel=0.005)
    assert leg.meters == pytest.approx(great_circle_meters(PLANO, FRISCO) * 1.2)


def test_the_matrix_is_rows_of_origins_by_columns_of_destinations() -> None:
    grid = estimate_matrix([PLANO, MCKINNEY], [FRISCO, MESQUITE, PLANO], TUESDAY_0900)
    assert [[c.minutes for c in row] for row in grid] == [
        [estimate(o, d, TUESDAY_0900).minutes for d in (FRISCO, MESQUITE, PLANO)]
        for o in (PLANO, MCKINNEY)
    ]
    assert estimate_matrix([], [PLANO], TUESDAY_0900) == []
    assert estimate_matrix([PLANO], [], TUESDAY_0900) == [[]]


@pytest.mark.parametrize(("lat", "lon"), [(-96.7, 33.0), (91.0, 0.0), (0.0, 181.0), (math.nan, 0)])
def test_a_point_outside_the_globe_is_refused(lat: float, lon: float) -> None:
    with pytest.raises(ValueError, match="out of range"):
        Point(lat, lon)


lats = st.floats(min_value=-70, max_value=70)
lons = st.floats(min_value=-180, max_value=180)
points = st.builds(Point, lats, lons)
instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(DALLAS)
)


def _along(origin: Point, bearing_deg: float, meters: float) -> Point:
    """The point ``meters`` from ``origin`` along the great circle leaving at ``bearing_deg``."""
    delta = meters / 6_371_008.8
    theta = math.radians(bearing_deg)
    phi1, lam1 = math.radians(origin.lat), math.radians(origin.lon)
    phi2 = math.asin(
        math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta)
    )
    lam2 = lam1 + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi1),
        math.cos(delta) - math.sin(phi1) * math.sin(phi2),
    )
    lon = (math.degrees(lam2) + 540) % 360 - 180
    return Point(math.degrees(phi2), lon)


@given(points, points, instants)
def test_legs_are_finite_and_never_negative(a: Point, b: Point, when: datetime) -> None:
    leg = estimate(a, b, when)
    assert math.isfinite(leg.minutes) and leg.minutes >= 0
    assert math.isfinite(leg.meters) and leg.meters >= 0


@given(points, points, instants)
def test_there_and_back_cost_the_same(a: Point, b: Point, when: datetime) -> None:
    there, back = estimate(a, b, when), estimate(b, a, when)
    assert there.meters == pytest.approx(back.meters, rel=1e-12, abs=1e-6)
    assert there.minutes == pytest.approx(back.minutes, rel=1e-12, abs=1e-9)


@given(
    points,
    st.floats(min_value=0, max_value=360),
    st.floats(min_value=0, max_value=300_000),
    st.floats(min_value=1, max_value=300_000),
    instants,
)
def test_farther_along_the_same_bearing_never_takes_less_time(
    origin: Point, bearing: float, near: float, extra: float, when: datetime
) -> None:
    closer = estimate(origin, _along(origin, bearing, near), when)
    farther = estimate(origin, _along(origin, bearing, near + extra), when)
    assert farther.meters > closer.meters
    assert farther.minutes >= closer.minutes
