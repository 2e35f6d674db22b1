"""The feedback page's pure core: sentiment, correlations, grouping, and the SVG charts as XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routeboard.feedback.analysis import (
    Answer,
    Group,
    bar_chart,
    line_chart,
    mood,
    pearson,
    scatter_chart,
    sentiment,
    summarize,
    week_of,
)

SVG = "{http://www.w3.org/2000/svg}"
SUNDAY = date(2026, 11, 22)
MONDAY = date(2026, 11, 23)
BASE = Answer(
    job_id=1,
    technician="Ann",
    day=MONDAY,
    rating=5,
    late_minutes=0.0,
    notify_delay_seconds=None,
    sentiment=None,
    comment="",
)


def answer(rating: int, **changes: object) -> Answer:
    return replace(BASE, rating=rating, **changes)  # type: ignore[arg-type]


def commented(rating: int, comment: str) -> Answer:
    return answer(rating, comment=comment, sentiment=sentiment(comment))


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check it is well-formed


def marks(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("class") == "mark"]


def texts(root: ET.Element) -> list[str]:
    return [e.text or "" for e in root.iter(f"{SVG}text")]


# --- Sentiment and mood ------------------------------------------------------------------------


def test_sentiment_of_clear_comments() -> None:
    praise = sentiment("Great service, the technician was friendly and fast. Thank you!")
    complaint = sentiment("Terrible. He was late and rude, and the glass still leaks.")
    assert praise is not None and praise > 0.5
    assert complaint is not None and complaint < -0.5
    assert praise == round(praise, 3)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_sentiment_of_blank_text_is_none(text: str) -> None:
    assert sentiment(text) is None


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (None, None),
        (0.05, "positive"),
        (0.9, "positive"),
        (0.049, "neutral"),
        (0.0, "neutral"),
        (-0.049, "neutral"),
        (-0.05, "negative"),
        (-0.9, "negative"),
    ],
)
def test_mood_thresholds(score: float | None, expected: str | None) -> None:
    assert mood(score) == expected


# --- Pearson and weeks ---------------------------------------------------------------------------


def test_pearson_perfect_and_hand_computed() -> None:
    assert pearson([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert pearson([1, 2, 3, 4], [8, 6, 4, 2]) == -1.0
    # Deviations (-1.5, -.5, .5, 1.5) and (-.5, -1.5, 1.5, .5): r = 3 / sqrt(5 * 5).
    assert pearson([1, 2, 3, 4], [2, 1, 4, 3]) == 0.6
    # r = 1 / sqrt(2 * 2), rounded to 3 places.
    assert pearson([1, 2, 3], [1, 3, 2]) == 0.5
    assert pearson([0, 1, 2, 3], [1, 0, 0, 1]) == 0.0


def test_pearson_is_none_when_it_says_nothing() -> None:
    assert pearson([], []) is None
    assert pearson([1, 2], [3, 4]) is None
    assert pearson([0.1, 0.1, 0.1], [1, 2, 3]) is None
    assert pearson([1, 2, 3], [4, 4, 4]) is None


def test_pearson_needs_pairs() -> None:
    with pytest.raises(ValueError, match="pairs"):
        pearson([1, 2, 3], [1, 2])


@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), max_size=30))
def test_pearson_stays_in_range(pairs: list[tuple[float, float]]) -> None:
    r = pearson([x for x, _ in pairs], [y for _, y in pairs])
    assert r is None or -1.0 <= r <= 1.0


def test_pearson_of_spreads_too_small_to_square_is_none() -> None:
    # Hypothesis found it: the sums of squares underflow to zero (a division by zero before).
    assert pearson([0.0, 1e-200, 0.0], [0.0, 1e-200, 1e-200]) is None


def test_week_of_is_the_iso_monday() -> None:
    assert week_of(MONDAY) == MONDAY
    assert week_of(SUNDAY) == date(2026, 11, 16)
    assert week_of(date(2026, 11, 29)) == MONDAY
    # ISO week 53 of 2026 starts on Monday 28 December and holds New Year's Day 2027.
    assert week_of(date(2027, 1, 1)) == date(2026, 12, 28)


# --- Summary -------------------------------------------------------------------------------------


def test_summary_of_nothing() -> None:
    summary = summarize([], requests=0)
    assert summary.responses == 0
    assert summary.response_rate is None
    assert summary.average is None
    assert summary.by_technician == []
    assert summary.by_week == []
    assert summary.moods == {"positive": 0, "neutral": 0, "negative": 0}
    assert summary.rating_vs_lateness is None
    assert summary.rating_vs_notify_delay is None
    assert summary.arrival_on_time_rate is None


def test_response_rate_and_average() -> None:
    summary = summarize([answer(5), answer(4), answer(4)], requests=8)
    assert (summary.requests, summary.responses) == (8, 3)
    assert summary.response_rate == 0.375
    assert summary.average == 4.33
    assert summarize([answer(5)], requests=0).response_rate is None


def test_groups_by_technician_sorted_by_name() -> None:
    answers = [
        answer(5, technician="bo"),
        answer(4, technician="Ann"),
        answer(3, technician="Cy"),
        answer(4, technician="Ann"),
        answer(5, technician="Ann"),
        answer(2, technician=""),
    ]
    assert summarize(answers, requests=6).by_technician == [
        Group("", 1, 2.0),
        Group("Ann", 3, 4.33),
        Group("bo", 1, 5.0),
        Group("Cy", 1, 3.0),
    ]


def test_groups_by_week_across_a_monday() -> None:
    answers = [
        answer(5, day=MONDAY),
        answer(2, day=SUNDAY),
        answer(3, day=date(2026, 11, 29)),  # the Sunday after: still MONDAY's week
        answer(4, day=date(2026, 11, 17)),
    ]
    assert summarize(answers, requests=4).by_week == [
        Group("2026-11-16", 2, 3.0),
        Group("2026-11-23", 2, 4.0),
    ]


def test_moods_count_only_commented_answers() -> None:
    answers = [
        commented(5, "Wonderful job, thank you so much!"),
        commented(5, "Excellent and friendly."),
        commented(1, "Awful, late and rude."),
        commented(4, "The van was white."),
        answer(5),
        answer(3, comment="   "),
        # A score without a comment is not a comment's mood.
        answer(2, sentiment=-0.8),
    ]
    assert summarize(answers, requests=7).moods == {"positive": 2, "neutral": 1, "negative": 1}


def test_moods_score_comments_stored_without_a_sentiment() -> None:
    answers = [answer(5, comment="Great work, thanks!"), answer(1, comment="Horrible service.")]
    assert summarize(answers, requests=2).moods == {"positive": 1, "neutral": 0, "negative": 1}


def test_ratings_fall_as_lateness_rises() -> None:
    lateness = {5: 0.0, 4: 8.0, 3: 20.0, 2: 35.0, 1: 70.0}
    answers = [answer(r, late_minutes=m) for r, m in lateness.items()]
    answers += [answer(5, late_minutes=3.0), answer(4, late_minutes=0.0)]
    r = summarize(answers, requests=10).rating_vs_lateness
    assert r is not None and r < -0.9


def test_notify_delay_correlation_ignores_answers_without_messages() -> None:
    answers = [
        answer(5, notify_delay_seconds=10.0),
        answer(4, notify_delay_seconds=20.0),
        answer(3, notify_delay_seconds=30.0),
        # Counted as a zero delay, this would pull r well away from -1.
        answer(1, notify_delay_seconds=None),
        answer(1, notify_delay_seconds=None),
    ]
    summary = summarize(answers, requests=5)
    assert summary.rating_vs_notify_delay == -1.0
    assert summarize(answers[1:], requests=4).rating_vs_notify_delay is None


def test_arrival_on_time_rate() -> None:
    assert (
        summarize([], requests=0, on_time_answers=[True, True, False, True]).arrival_on_time_rate
        == 0.75
    )
    assert summarize([], requests=0, on_time_answers=[False]).arrival_on_time_rate == 0.0
    assert summarize([], requests=0, on_time_answers=()).arrival_on_time_rate is None


# --- Charts --------------------------------------------------------------------------------------

GROUPS = [Group("Ann", 3, 5.0), Group("<Ann & Bo>", 2, 2.5), Group("Cy", 1, 1.0)]


def check_root(root: ET.Element, title: str) -> None:
    assert root.tag == f"{SVG}svg"
    assert root.get("class") == "chart"
    assert root.get("role") == "img"
    assert root.get("aria-label") == title
    assert root.findtext(f"{SVG}title") == title
    assert root.get("viewBox", "").startswith("0 0 ")


def test_bar_chart_marks_and_escaping() -> None:
    svg = bar_chart(GROUPS, title="Rating by <technician> & crew")
    root = parse(svg)
    check_root(root, "Rating by <technician> & crew")
    found = marks(root)
    assert [m.tag for m in found] == [f"{SVG}rect"] * 3
    assert [m.get("data-label") for m in found] == ["Ann", "<Ann & Bo>", "Cy"]
    assert [float(m.get("data-value", "")) for m in found] == [5.0, 2.5, 1.0]
    assert "<Ann & Bo>" in texts(root)
    assert "2.50 (n=2)" in texts(root)
    assert "<Ann &" not in svg
    assert "&lt;Ann &amp; Bo&gt;" in svg
    assert "style=" not in svg
    assert "<script" not in svg


def test_bar_width_is_proportional_to_the_value() -> None:
    widths = [float(m.get("width", "")) for m in marks(parse(bar_chart(GROUPS, title="t")))]
    assert widths[1] / widths[0] == pytest.approx(0.5, rel=1e-3)
    assert widths[2] / widths[0] == pytest.approx(0.2, rel=1e-3)
    # Against a larger scale the same value draws a shorter bar, and nothing overflows it.
    scaled = marks(
        parse(bar_chart([Group("a", 1, 5.0), Group("b", 1, 12.0)], title="t", max_value=10))
    )
    assert float(scaled[0].get("width", "")) == pytest.approx(widths[0] / 2, rel=1e-3)
    assert float(scaled[1].get("width", "")) == pytest.approx(widths[0], rel=1e-3)


def test_bar_chart_truncates_long_labels_but_keeps_them_whole_in_data() -> None:
    name = "Maximilian Alexander Fotheringham-Smythe"
    root = parse(bar_chart([Group(name, 1, 4.0)], title="t"))
    assert marks(root)[0].get("data-label") == name
    assert any(t.endswith("…") and name.startswith(t[:-1]) for t in texts(root))


@pytest.mark.parametrize(
    "svg",
    [
        bar_chart([], title="Empty"),
        line_chart([], title="Empty"),
        scatter_chart([], title="Empty", x_label="x", y_label="y"),
    ],
)
def test_empty_charts_say_so(svg: str) -> None:
    root = parse(svg)
    check_root(root, "Empty")
    assert marks(root) == []
    assert texts(root) == ["No data yet"]


def test_line_chart_points_line_and_labels() -> None:
    weeks = [Group("2026-11-16", 2, 3.0), Group("2026-11-23", 4, 4.5), Group("<wk>", 1, 5.0)]
    root = parse(line_chart(weeks, title="By week"))
    check_root(root, "By week")
    found = marks(root)
    assert [m.tag for m in found] == [f"{SVG}circle"] * 3
    assert [m.get("data-label") for m in found] == ["2026-11-16", "2026-11-23", "<wk>"]
    assert [float(m.get("data-value", "")) for m in found] == [3.0, 4.5, 5.0]
    assert {"2026-11-16", "2026-11-23", "<wk>"} <= set(texts(root))
    polyline = root.find(f".//{SVG}polyline")
    assert polyline is not None
    assert len(polyline.get("points", "").split()) == 3
    # Higher averages sit higher on the page, i.e. at a smaller y.
    ys = [float(m.get("cy", "")) for m in found]
    assert ys[0] > ys[1] > ys[2]


def test_line_chart_with_one_point() -> None:
    root = parse(line_chart([Group("2026-11-23", 1, 4.0)], title="One"))
    assert len(marks(root)) == 1
    assert root.find(f".//{SVG}polyline") is None
    assert "2026-11-23" in texts(root)


def test_line_chart_thins_crowded_labels() -> None:
    weeks = [Group(f"w{i:02d}", 1, 4.0) for i in range(52)]
    root = parse(line_chart(weeks, title="A year"))
    assert len(marks(root)) == 52
    shown = [t for t in texts(root) if t.startswith("w")]
    assert 2 <= len(shown) < 52
    assert shown[0] == "w00"


def test_scatter_chart_points_and_axes() -> None:
    points = [(0.0, 5.0), (4.0, 4.0), (12.5, 3.0), (47.0, 1.0)]
    root = parse(
        scatter_chart(points, title="Lateness", x_label="Minutes <late>", y_label="Rating")
    )
    check_root(root, "Lateness")
    found = marks(root)
    assert [m.tag for m in found] == [f"{SVG}circle"] * 4
    assert [(float(m.get("data-x", "")), float(m.get("data-y", ""))) for m in found] == points
    assert found[0].get("data-value") == "0.0,5.0"
    labels = texts(root)
    assert {"Minutes <late>", "Rating", "0", "50", "5"} <= set(labels)
    xs = [float(m.get("cx", "")) for m in found]
    assert xs == sorted(xs)
    width = float(root.get("viewBox", "").split()[2])
    assert all(0 < x < width for x in xs)


def test_scatter_chart_x_range_reaches_at_least_one() -> None:
    root = parse(scatter_chart([(0, 5), (0, 4)], title="t", x_label="x", y_label="y"))
    assert len(marks(root)) == 2
    assert "1" in texts(root)


def test_charts_reject_a_non_positive_scale() -> None:
    with pytest.raises(ValueError, match="max_value"):
        bar_chart(GROUPS, title="t", max_value=0)
    with pytest.raises(ValueError, match="max_value"):
        line_chart(GROUPS, title="t", max_value=-1)


@given(st.lists(st.tuples(st.text(), st.floats(0, 5)), min_size=1, max_size=8), st.text())
def test_charts_stay_well_formed_whatever_the_names(
    rows: list[tuple[str, float]], title: str
) -> None:
    groups = [Group(label, 1, round(value, 2)) for label, value in rows]
    for svg in (bar_chart(groups, title=title), line_chart(groups, title=title)):
        assert len(marks(parse(svg))) == len(groups)
