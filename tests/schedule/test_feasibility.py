"""The pure cores: placements accepted one by one re-check clean as a whole day, and every
recommendation, inserted, leaves a day with no conflicts."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from routeboard.schedule.feasibility import Stop, TechDay, check_day, check_placement
from routeboard.schedule.recommend import NewJob, fits_for_day
from routeboard.travel.estimate import Leg, Point, estimate

TZ = ZoneInfo("America/Chicago")
DAY_START = datetime(2026, 12, 1, 8, tzinfo=TZ)
SITES = [
    Point(33.1972, -96.6398), Point(32.7668, -96.5992), Point(33.1507, -96.8236),
    Point(33.0198, -96.6989), Point(32.9483, -96.7299), Point(32.9126, -96.6389),
    Point(32.7767, -96.7970),
]  # fmt: skip
HOME = Point(33.0232, -96.7973)


def travel(a: Point, b: Point) -> Leg:
    return estimate(a, b, DAY_START)


def empty_day() -> TechDay:
    return TechDay(
        1, HOME, frozenset({"chip_repair"}), (DAY_START, DAY_START + timedelta(hours=9)), ()
    )


attempt = st.tuples(
    st.sampled_from(SITES), st.integers(0, 9 * 12 - 1), st.sampled_from([30, 45, 60, 90])
)


@settings(max_examples=150, deadline=None)
@given(st.lists(attempt, min_size=1, max_size=25))
def test_accepted_one_by_one_means_clean_as_a_whole(attempts: list[tuple[Point, int, int]]) -> None:
    day = empty_day()
    for n, (site, slot, minutes) in enumerate(attempts, start=1):
        start = DAY_START + timedelta(minutes=5 * slot)
        stop = Stop(n, start, start + timedelta(minutes=minutes), site, "chip_repair")
        if not check_placement(day, stop, travel):
            day = TechDay(
                day.technician_id, day.home, day.skills, day.hours,
                tuple(sorted((*day.stops, stop), key=lambda s: s.start)),
            )  # fmt: skip
    assert check_day(day, travel) == []


@settings(max_examples=100, deadline=None)
@given(st.lists(attempt, max_size=12), st.sampled_from(SITES), st.sampled_from([30, 60, 120]))
def test_every_fit_inserted_leaves_a_clean_day(
    attempts: list[tuple[Point, int, int]], site: Point, minutes: int
) -> None:
    day = empty_day()
    for n, (where, slot, length) in enumerate(attempts, start=1):
        start = DAY_START + timedelta(minutes=5 * slot)
        stop = Stop(n, start, start + timedelta(minutes=length), where, "chip_repair")
        if not check_placement(day, stop, travel):
            day = TechDay(
                1,
                HOME,
                day.skills,
                day.hours,
                tuple(sorted((*day.stops, stop), key=lambda s: s.start)),
            )
    job = NewJob(999, site, minutes, "chip_repair")
    for fit in fits_for_day(day, job, travel, not_before=DAY_START):
        placed = Stop(999, fit.start, fit.end, site, "chip_repair")
        full = TechDay(
            1,
            HOME,
            day.skills,
            day.hours,
            tuple(sorted((*day.stops, placed), key=lambda s: s.start)),
        )
        assert check_day(full, travel) == []


def test_a_technician_without_the_skill_gets_no_fit() -> None:
    job = NewJob(1, SITES[0], 30, "adas_calibration")
    assert fits_for_day(empty_day(), job, travel, not_before=DAY_START) == []
