"""Customer feedback in numbers and pictures, for the admin feedback page (pure: no DB, no I/O
beyond VADER reading its lexicon once).

The service loads one ``Answer`` per rating and hands them to ``summarize``; the page draws the
result with the chart functions. Charts are inline SVG strings built here on the server because the
page's Content-Security-Policy allows neither third-party scripts nor inline styles: every colour
and size is an SVG presentation attribute, and every caller-supplied text goes through
``html.escape``.
"""

from __future__ import annotations

import html
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Literal

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

Mood = Literal["positive", "neutral", "negative"]
MOODS: tuple[Mood, ...] = ("positive", "neutral", "negative")
# VADER's authors' conventional cut-offs for the compound score.
MOOD_THRESHOLD = 0.05


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    # Construction reads two lexicon files (~7,500 entries); do it once, and only when needed.
    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float | None:
    """VADER compound score of a comment, -1 (negative) to 1 (positive); None when blank."""
    if not text.strip():
        return None
    return round(float(_analyzer().polarity_scores(text)["compound"]), 3)


def mood(score: float | None) -> Mood | None:
    if score is None:
        return None
    if score >= MOOD_THRESHOLD:
        return "positive"
    if score <= -MOOD_THRESHOLD:
        return "negative"
    return "neutral"


@dataclass(frozen=True)
class Answer:
    """One customer's rating of one job, with what we know about how that job went."""

    job_id: int
    technician: str  # display name; "" when nobody was assigned
    day: date  # local date the job was done
    rating: int  # 1..5
    late_minutes: float  # arrival past the promised time; 0 when on time
    # Mean delay between queueing and sending the job's customer messages; None if none were sent.
    notify_delay_seconds: float | None
    sentiment: float | None
    comment: str


@dataclass(frozen=True)
class Group:
    label: str
    count: int
    average: float  # rounded to 2 places


@dataclass(frozen=True)
class Summary:
    requests: int  # feedback requests sent
    responses: int  # ratings received
    response_rate: float | None  # None when no request was sent
    average: float | None  # mean rating, rounded to 2 places; None without ratings
    by_technician: list[Group]  # by name
    by_week: list[Group]  # by week start (ISO Monday), labelled "2026-11-23"
    moods: dict[str, int]  # always all three moods, over answers with a comment
    rating_vs_lateness: float | None  # Pearson r
    rating_vs_notify_delay: float | None  # Pearson r, over answers with a notify delay
    arrival_on_time_rate: float | None  # share of "did we arrive on time?" answered yes


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson correlation, rounded to 3 places; None when it says nothing (n < 3, a constant)."""
    if len(xs) != len(ys):
        raise ValueError(f"pearson needs pairs: got {len(xs)} x and {len(ys)} y values")
    if len(xs) < 3:
        return None
    # Compared exactly rather than by the sum of squares, which floating-point rounding can leave a
    # hair above zero for a constant series and turn into a meaningless r.
    if min(xs) == max(xs) or min(ys) == max(ys):
        return None
    mean_x = math.fsum(xs) / len(xs)
    mean_y = math.fsum(ys) / len(ys)
    dx = [x - mean_x for x in xs]
    dy = [y - mean_y for y in ys]
    sxy = math.fsum(a * b for a, b in zip(dx, dy, strict=True))
    sxx = math.fsum(a * a for a in dx)
    syy = math.fsum(b * b for b in dy)
    # Square roots apart: the product of two tiny sums can underflow to zero where neither does.
    spread = math.sqrt(sxx) * math.sqrt(syy)
    if spread == 0.0:  # differences too small for floats to square: no usable spread
        return None
    r = sxy / spread
    return round(max(-1.0, min(1.0, r)), 3)


def week_of(day: date) -> date:
    """The Monday of the ISO week ``day`` falls in."""
    return day - timedelta(days=day.weekday())


def _groups(answers: Iterable[Answer], label: Callable[[Answer], str]) -> list[Group]:
    ratings: defaultdict[str, list[int]] = defaultdict(list)
    for answer in answers:
        ratings[label(answer)].append(answer.rating)
    # Names sort case-insensitively; ISO dates sort by time as plain text, so one key serves both.
    ordered = sorted(ratings.items(), key=lambda item: (item[0].casefold(), item[0]))
    return [Group(name, len(rs), round(sum(rs) / len(rs), 2)) for name, rs in ordered]


def summarize(
    answers: Sequence[Answer],
    *,
    requests: int,
    on_time_answers: Sequence[bool] = (),
    answered: int | None = None,
) -> Summary:
    """Everything the feedback page shows, from the ratings and the arrival pulse answers.
    ``answered``: how many of the customers asked rated, when some ratings came unasked (the
    response rate is over those asked); by default every rating answers a request."""
    moods: dict[str, int] = dict.fromkeys(MOODS, 0)
    for answer in answers:
        if not answer.comment.strip():
            continue
        # Answers stored before sentiment was recorded are scored here, so they still count.
        score = answer.sentiment if answer.sentiment is not None else sentiment(answer.comment)
        found = mood(score)
        if found is not None:
            moods[found] += 1
    delayed = [
        (a.notify_delay_seconds, a.rating) for a in answers if a.notify_delay_seconds is not None
    ]
    return Summary(
        requests=requests,
        responses=len(answers),
        response_rate=(len(answers) if answered is None else answered) / requests
        if requests > 0
        else None,
        average=round(sum(a.rating for a in answers) / len(answers), 2) if answers else None,
        by_technician=_groups(answers, lambda a: a.technician),
        by_week=_groups(answers, lambda a: week_of(a.day).isoformat()),
        moods=moods,
        rating_vs_lateness=pearson([a.late_minutes for a in answers], [a.rating for a in answers]),
        rating_vs_notify_delay=pearson([d for d, _ in delayed], [r for _, r in delayed]),
        arrival_on_time_rate=(
            sum(on_time_answers) / len(on_time_answers) if on_time_answers else None
        ),
    )


# --- Charts -----------------------------------------------------------------------------------

FONT = "system-ui, sans-serif"
MARK_COLOUR = "#2563eb"
GRID_COLOUR = "#e5e7eb"
AXIS_COLOUR = "#9ca3af"
NO_DATA = "No data yet"
# Characters XML 1.0 forbids even as references; one in a name would make the whole SVG unparsable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _esc(text: str) -> str:
    return html.escape(_NOT_XML.sub("", text), quote=True)


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _clip(label: str, limit: int) -> str:
    # SVG text never wraps; the full label stays in the mark's <title> and data-label.
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _share(value: float, max_value: float) -> float:
    return min(max(value / max_value, 0.0), 1.0)


def _svg(width: int, height: int, title: str, body: Iterable[str]) -> str:
    label = _esc(title)
    return "".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}"'
            f' role="img" aria-label="{label}">',
            f"<title>{label}</title>",
            f'<g font-family="{FONT}" font-size="12" fill="currentColor">',
            *body,
            "</g></svg>",
        ]
    )


def _no_data(width: int, height: int, title: str) -> str:
    text = (
        f'<text x="{_num(width / 2)}" y="{_num(height / 2)}" text-anchor="middle"'
        f' dominant-baseline="middle">{NO_DATA}</text>'
    )
    return _svg(width, height, title, [text])


def _nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) covering low..high."""
    span = high - low
    magnitude = 10 ** math.floor(math.log10(span / target))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if span / (m * magnitude) <= target)
    # The epsilon keeps 0.30000000000000004 / 0.1 from growing an extra, empty step.
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [round(i * step, 9) for i in range(first, last + 1)]


def _check_max(max_value: float) -> None:
    if not max_value > 0:
        raise ValueError(f"max_value must be positive, got {max_value}")


def bar_chart(
    groups: Sequence[Group], *, title: str, max_value: float = 5.0, width: int = 560
) -> str:
    """Horizontal bars of each group's average, with the value and its count at the bar's end."""
    _check_max(max_value)
    label_width, value_width, row, bar, pad = 150, 100, 28, 18, 8
    if not groups:
        return _no_data(width, 2 * row, title)
    height = 2 * pad + row * len(groups)
    room = max(width - label_width - value_width, 1)
    body = [
        f'<line x1="{label_width}" y1="{pad}" x2="{label_width}" y2="{height - pad}"'
        f' stroke="{AXIS_COLOUR}"/>'
    ]
    for i, group in enumerate(groups):
        middle = pad + row * i + row / 2
        length = room * _share(group.average, max_value)
        value = f"{group.average:.2f} (n={group.count})"
        body += [
            f'<text x="{label_width - 8}" y="{_num(middle)}" text-anchor="end"'
            f' dominant-baseline="middle">{_esc(_clip(group.label, 22))}</text>',
            f'<rect class="mark" data-label="{_esc(group.label)}" data-value="{group.average}"'
            f' x="{label_width}" y="{_num(middle - bar / 2)}" width="{_num(length)}"'
            f' height="{bar}" fill="{MARK_COLOUR}">'
            f"<title>{_esc(group.label)}: {value}</title></rect>",
            f'<text x="{_num(label_width + length + 6)}" y="{_num(middle)}"'
            f' dominant-baseline="middle">{value}</text>',
        ]
    return _svg(width, height, title, body)


def line_chart(
    groups: Sequence[Group],
    *,
    title: str,
    max_value: float = 5.0,
    width: int = 560,
    height: int = 220,
) -> str:
    """Each group's average as a point on a line, in the order given (by week for the page)."""
    _check_max(max_value)
    if not groups:
        return _no_data(width, height, title)
    left, right, top, bottom = 44, 36, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    base = top + plot_h

    def x(i: int) -> float:
        return left + plot_w / 2 if len(groups) == 1 else left + plot_w * i / (len(groups) - 1)

    def y(value: float) -> float:
        return base - plot_h * _share(value, max_value)

    body = _y_axis([t for t in _nice_ticks(0, max_value) if t <= max_value], y, left, width - right)
    if len(groups) > 1:
        line = " ".join(f"{_num(x(i))},{_num(y(g.average))}" for i, g in enumerate(groups))
        body.append(
            f'<polyline points="{line}" fill="none" stroke="{MARK_COLOUR}" stroke-width="2"/>'
        )
    # Labels are about 64 px wide; past that density only every few weeks gets one.
    every = max(1, math.ceil(len(groups) * 64 / plot_w))
    for i, group in enumerate(groups):
        value = f"{group.average:.2f} (n={group.count})"
        body.append(
            f'<circle class="mark" data-label="{_esc(group.label)}" data-value="{group.average}"'
            f' cx="{_num(x(i))}" cy="{_num(y(group.average))}" r="4" fill="{MARK_COLOUR}">'
            f"<title>{_esc(group.label)}: {value}</title></circle>"
        )
        if i % every == 0:
            body.append(
                f'<text x="{_num(x(i))}" y="{base + 18}" text-anchor="middle" font-size="11">'
                f"{_esc(_clip(group.label, 12))}</text>"
            )
    return _svg(width, height, title, body)


def scatter_chart(
    points: Sequence[tuple[float, float]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    width: int = 560,
    height: int = 260,
) -> str:
    """One circle per (x, y) pair; both axes start at 0 and reach at least 1."""
    finite = [(px, py) for px, py in points if math.isfinite(px) and math.isfinite(py)]
    if not finite:
        return _no_data(width, height, title)
    left, right, top, bottom = 60, 20, 14, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    base = top + plot_h
    x_ticks = _nice_ticks(min(0, *(p[0] for p in finite)), max(1, *(p[0] for p in finite)))
    y_ticks = _nice_ticks(min(0, *(p[1] for p in finite)), max(1, *(p[1] for p in finite)))

    def x(value: float) -> float:
        return left + plot_w * (value - x_ticks[0]) / (x_ticks[-1] - x_ticks[0])

    def y(value: float) -> float:
        return base - plot_h * (value - y_ticks[0]) / (y_ticks[-1] - y_ticks[0])

    body = _y_axis(y_ticks, y, left, width - right)
    for tick in x_ticks:
        body.append(
            f'<text x="{_num(x(tick))}" y="{base + 16}" text-anchor="middle" font-size="11">'
            f"{_num(tick)}</text>"
        )
    body += [
        f'<text x="{_num(left + plot_w / 2)}" y="{height - 6}" text-anchor="middle">'
        f"{_esc(x_label)}</text>",
        f'<text x="14" y="{_num(top + plot_h / 2)}" text-anchor="middle"'
        f' transform="rotate(-90 14 {_num(top + plot_h / 2)})">{_esc(y_label)}</text>',
    ]
    for px, py in finite:
        body.append(
            f'<circle class="mark" data-value="{px},{py}" data-x="{px}" data-y="{py}"'
            f' cx="{_num(x(px))}" cy="{_num(y(py))}" r="4" fill="{MARK_COLOUR}"'
            f' fill-opacity="0.6"><title>{_esc(x_label)}: {_num(px)}, {_esc(y_label)}:'
            f" {_num(py)}</title></circle>"
        )
    return _svg(width, height, title, body)


def _y_axis(
    ticks: Sequence[float], y: Callable[[float], float], left: int, right: int
) -> list[str]:
    """Horizontal grid lines with their values at the left; the lowest one is the x axis."""
    parts = []
    for i, tick in enumerate(ticks):
        at = _num(y(tick))
        colour = AXIS_COLOUR if i == 0 else GRID_COLOUR
        parts += [
            f'<line x1="{left}" y1="{at}" x2="{right}" y2="{at}" stroke="{colour}"/>',
            f'<text x="{left - 6}" y="{at}" text-anchor="end" dominant-baseline="middle"'
            f' font-size="11">{_num(tick)}</text>',
        ]
    return parts
