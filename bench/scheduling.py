"""Scheduling benchmarks against the issue's targets, each with a baseline measured in the same run.

    make bench            (or: .venv/bin/python bench/scheduling.py)

1. Feasibility of one placement in a 20-job day with a warm travel cache: median ≤ 0.5 ms.
   Baseline: ``check_day`` on the day with the candidate inserted (a full re-check from scratch).
2. Recommend across 50 technicians × 20 jobs: median ≤ 50 ms and ≥ 10× faster than a naive search
   that inserts the job at every 5-minute start and re-checks the whole day with ``check_day``.
3. Optimising one technician's 15-job day: ≤ 2 s per call, and the proposal never drives more than
   the dispatcher's order; pinned jobs keep their start and the proposal has no conflicts.

The days are synthetic but shaped like Dallas–Fort Worth work: sites around Plano, Frisco,
McKinney, Richardson, Garland, Mesquite and Dallas, 20–30 minute jobs, and starts on a 5-minute
grid after the modelled drive. Figures are medians; the process always exits 0 and prints FAIL
next to any missed target.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from routeboard.schedule.feasibility import (
    Stop,
    TechDay,
    Travel,
    check_day,
    check_placement,
    drive_minutes,
)
from routeboard.schedule.optimize import optimize_day
from routeboard.schedule.recommend import STEP, Fit, NewJob, recommend
from routeboard.schedule.service import legs, pairs_around
from routeboard.travel.estimate import Leg, Point, estimate
from routeboard.travel.service import CachedTravel, EstimateProvider

TZ = ZoneInfo("America/Chicago")
DAY = date(2026, 12, 1)  # a Tuesday: weekday congestion
SKILLS = ("windshield_replacement", "chip_repair", "adas_calibration", "side_back_glass")
CITIES: dict[str, tuple[float, float]] = {
    "Frisco": (33.1507, -96.8236),
    "McKinney": (33.1972, -96.6398),
    "Plano": (33.0198, -96.6989),
    "Richardson": (32.9483, -96.7299),
    "Garland": (32.9126, -96.6389),
    "Mesquite": (32.7668, -96.5992),
    "Dallas": (32.7767, -96.7970),
}
# Neighbouring cities, for technicians who work a region rather than the whole metroplex.
NEAR: dict[str, tuple[str, ...]] = {
    "Frisco": ("Plano", "McKinney"),
    "McKinney": ("Frisco", "Plano"),
    "Plano": ("Richardson", "Frisco", "McKinney"),
    "Richardson": ("Plano", "Garland", "Dallas"),
    "Garland": ("Richardson", "Mesquite"),
    "Mesquite": ("Garland", "Dallas"),
    "Dallas": ("Richardson", "Mesquite"),
}
# Days are laid out with the 08:00 weekday estimate (congestion 1.35, the heaviest of the working
# day before 16:00), so they stay conflict-free under the lookups the services build at 08:00
# (optimise), noon (recommend) or the candidate's start (placement check).
LAYOUT_DEPART = datetime(DAY.year, DAY.month, DAY.day, 8, tzinfo=TZ)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=TZ)  # the cache's clock: fixed, so nothing expires


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, hour, minute, tzinfo=TZ)


def layout_leg(a: Point, b: Point) -> Leg:
    return estimate(a, b, LAYOUT_DEPART)


def ceil_to_step(t: datetime, origin: datetime) -> datetime:
    steps = -((origin - t) // STEP)  # ceiling division of timedeltas
    return origin + max(0, steps) * STEP


def site(rng: random.Random, city: str, spread: float = 0.025) -> Point:
    lat, lon = CITIES[city]
    return Point(
        round(lat + rng.uniform(-spread, spread), 5), round(lon + rng.uniform(-spread, spread), 5)
    )


@dataclass(frozen=True)
class Visit:
    point: Point
    minutes: int
    service_type: str
    slack_minutes: int = 0  # idle time added before this job (a gap the dispatcher left)
    window: bool = False  # give it a customer arrival window around its start
    pinned: bool = False


def lay_out(
    technician_id: int,
    home: Point,
    skills: frozenset[str],
    hours: tuple[datetime, datetime],
    visits: Sequence[Visit],
    *,
    first_job_id: int,
) -> TechDay:
    """A day with ``visits`` in order, each starting at the first grid minute after the drive."""
    open_, close = hours
    stops: list[Stop] = []
    here, free = home, open_
    for n, v in enumerate(visits):
        arrive = free + timedelta(minutes=layout_leg(here, v.point).minutes + v.slack_minutes)
        start = ceil_to_step(arrive, open_)
        end = start + timedelta(minutes=v.minutes)
        window = (
            (start - timedelta(minutes=60), start + timedelta(minutes=60)) if v.window else None
        )
        stops.append(
            Stop(
                job_id=first_job_id + n,
                start=start,
                end=end,
                point=v.point,
                service_type=v.service_type,
                window_start=window[0] if window else None,
                window_end=window[1] if window else None,
                pinned=v.pinned,
            )
        )
        here, free = v.point, end
    if stops and stops[-1].end > close:
        raise ValueError(f"technician {technician_id}: day runs to {stops[-1].end:%H:%M}")
    return TechDay(technician_id, home, skills, hours, tuple(stops))


def all_pairs(points: Sequence[Point]) -> set[tuple[Point, Point]]:
    return {(a, b) for a in points for b in points if a != b}


def lookup(pairs: set[tuple[Point, Point]], depart_at: datetime) -> Travel:
    """The warm table ``schedule.service.legs`` builds, filled from the offline estimate."""
    return asyncio.run(legs(EstimateProvider(TZ), pairs, depart_at))


# --- measuring -------------------------------------------------------------------------------


def per_call(fn: Callable[[], object], n: int, repeats: int) -> float:
    """Median seconds per call of ``fn`` over ``repeats`` runs of ``n`` calls."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - start) / n)
    return statistics.median(runs)


async def per_call_async(fn: Callable[[], Awaitable[object]], n: int, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            await fn()
        runs.append((time.perf_counter() - start) / n)
    return statistics.median(runs)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.3f} ms"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL  <<<"


def row(
    name: str, seconds: float, target: str, ok: bool, baseline_name: str, baseline: float
) -> None:
    print(
        f"  {name:<46} {ms(seconds)}  target {target:<9} {verdict(ok):<9}  "
        f"baseline {baseline_name:<40} {ms(baseline)}  ratio {seconds / baseline:6.3f}x"
    )


# --- 1. one placement in a 20-job day ---------------------------------------------------------


class Counting:
    """A provider (the estimate) that counts its calls, to prove the timed path never reaches it."""

    name = "counting-estimate"

    def __init__(self) -> None:
        self.inner = EstimateProvider(TZ)
        self.calls = 0

    async def matrix(
        self, origins: Sequence[Point], destinations: Sequence[Point], depart_at: datetime
    ) -> list[list[Leg]]:
        self.calls += 1
        return await self.inner.matrix(origins, destinations, depart_at)


def bench_placement() -> None:
    print("1. Feasibility of one placement in a 20-job day, warm travel (target: median ≤ 0.5 ms)")
    rng = random.Random(1)
    route = [
        *("Frisco",) * 3,
        *("McKinney",) * 3,
        *("Plano",) * 3,
        *("Richardson",) * 2,
        "Richardson",  # the candidate's site: the 11th place of 21, laid out then taken out
        *("Garland",) * 3,
        *("Mesquite",) * 3,
        *("Dallas",) * 3,
    ]
    # 21 sites, tightly clustered per city so that 20 jobs fit one (long) working day.
    visits = [
        Visit(site(rng, city, spread=0.015), rng.choice((20, 25, 30)), rng.choice(SKILLS[:2]))
        for city in route
    ]
    visits[11] = replace(visits[11], slack_minutes=5)  # a little room around the candidate
    skills = frozenset(SKILLS)
    home = site(rng, "Richardson")
    with_candidate = lay_out(1, home, skills, (at(7), at(20)), visits, first_job_id=100)
    candidate = replace(with_candidate.stops[11], job_id=999)
    with_candidate = replace(
        with_candidate,
        stops=tuple(candidate if i == 11 else s for i, s in enumerate(with_candidate.stops)),
    )
    day = replace(with_candidate, stops=tuple(s for s in with_candidate.stops if s.job_id != 999))
    assert len(day.stops) == 20

    # The lookup placement_conflicts builds: pairs_around the candidate, departing at its start.
    travel = lookup(pairs_around(day, candidate.point), candidate.start)
    # The baseline re-checks the whole day, which needs every consecutive leg of it.
    full = lookup(all_pairs([day.home, *(s.point for s in with_candidate.stops)]), candidate.start)
    assert check_day(day, full) == [], check_day(day, full)
    assert check_day(with_candidate, full) == []
    assert check_placement(day, candidate, travel) == []
    blocked = replace(candidate, start=day.stops[10].start, end=day.stops[10].end)
    assert check_placement(day, blocked, travel), "an overlapping start must be refused"

    repeats, n = 15, 2000
    baseline = per_call(lambda: check_day(with_candidate, full), n // 10, repeats)
    fig = per_call(lambda: check_placement(day, candidate, travel), n, repeats)
    first, last = day.stops[0].start, day.stops[-1].end
    print(
        f"  day: 20 jobs {first:%H:%M}–{last:%H:%M}, {len(set(route))} cities, candidate "
        f"{candidate.start:%H:%M}–{candidate.end:%H:%M} between job 11 and 12; "
        f"{repeats} repeats"
    )
    row(
        "check_placement, legs() table precomputed",
        fig,
        "≤ 0.5 ms",
        fig <= 0.5e-3,
        "check_day(day + candidate), same table",
        baseline,
    )

    async def through_cache() -> tuple[float, float, float, int, int]:
        inner = Counting()
        cache = CachedTravel(
            inner, EstimateProvider(TZ), ttl_seconds=3600, clock=lambda: NOW, timeout_seconds=5.0
        )
        await legs(cache, pairs_around(day, candidate.point), candidate.start)  # warm-up
        calls, misses = inner.calls, cache.misses

        async def check() -> list[object]:
            warm = await legs(cache, pairs_around(day, candidate.point), candidate.start)
            return list(check_placement(day, candidate, warm))

        async def fetch_only() -> Travel:
            return await legs(cache, pairs_around(day, candidate.point), candidate.start)

        async def uncached() -> list[object]:
            cold = await legs(
                EstimateProvider(TZ), pairs_around(day, candidate.point), candidate.start
            )
            return list(check_placement(day, candidate, cold))

        assert await check() == []
        total = await per_call_async(check, n // 10, repeats)
        fetch = await per_call_async(fetch_only, n // 10, repeats)
        direct = await per_call_async(uncached, n // 10, repeats)
        return total, fetch, direct, inner.calls - calls, cache.misses - misses

    total, fetch, direct, calls, misses = asyncio.run(through_cache())
    row(
        "legs(CachedTravel, warm) + check_placement",
        total,
        "≤ 0.5 ms",
        total <= 0.5e-3,
        "check_day(day + candidate), same table",
        baseline,
    )
    print(
        f"  … of which legs() through the cache {ms(fetch).strip()} "
        f"({len(pairs_around(day, candidate.point))} pairs, one matrix call per origin); "
        f"provider calls while timed: {calls}, cache misses: {misses}; "
        f"same path with EstimateProvider uncached: {ms(direct).strip()}"
    )


# --- 2. recommend across 50 technicians -------------------------------------------------------


def nearest_first(home: Point, visits: Sequence[Visit]) -> list[Visit]:
    """The visits in nearest-neighbour order from home: short hops, as a dispatcher roughly does."""
    left, out, here = list(visits), [], home
    while left:
        nxt = min(left, key=lambda v: layout_leg(here, v.point).minutes)
        left.remove(nxt)
        out.append(nxt)
        here = nxt.point
    # The lunch gap and the slack belong to a position in the day, not to a site.
    return [replace(v, slack_minutes=w.slack_minutes) for v, w in zip(out, visits, strict=True)]


def recommend_days(rng: random.Random) -> list[TechDay]:
    days: list[TechDay] = []
    cities = list(CITIES)
    for t in range(1, 51):
        home_city = cities[t % len(cities)]
        region = (home_city, rng.choice(NEAR[home_city]))
        skills = frozenset(s for s in SKILLS if rng.random() < 0.7) or frozenset(SKILLS[1:2])
        if t % 5 == 0:
            skills = skills - {"windshield_replacement"}  # some cannot take the new job at all
        opening = at(7, rng.choice((0, 0, 30)))
        hours = (opening, opening + timedelta(hours=13))
        lunch = rng.randrange(6, 14) if rng.random() < 0.7 else -1
        home = site(rng, home_city)
        visits = [
            Visit(
                site(rng, rng.choice(region), spread=0.015),
                rng.choice((20, 20, 25, 30)),
                rng.choice(sorted(skills)),
                slack_minutes=rng.choice((0, 0, 0, 0, 5)) + (60 if i == lunch else 0),
                window=rng.random() < 0.25,
            )
            for i in range(20)
        ]
        days.append(
            lay_out(t, home, skills, hours, nearest_first(home, visits), first_job_id=1000 + 20 * t)
        )
    return days


def added_drive(day: TechDay, stops: Sequence[Stop], i: int, job: NewJob, travel: Travel) -> float:
    origin = stops[i - 1].point if i else day.home
    nxt = stops[i] if i < len(stops) else None
    out = travel(job.point, nxt.point).minutes if nxt else 0.0
    direct = travel(origin, nxt.point).minutes if nxt else 0.0
    return travel(origin, job.point).minutes + out - direct


def naive(
    days: Sequence[TechDay], job: NewJob, travel: Travel, *, not_before: datetime
) -> list[tuple[datetime, float, float, int, int]]:
    """Every feasible (start, added drive, booked, technician, position), found the slow way.

    For each technician, each 5-minute start of the working day: insert the job, re-check the whole
    day from scratch with ``check_day``, keep the start when the day has no conflicts. Ranked by
    the same key as ``recommend`` (earliest start, least added driving, lighter day).
    """
    length = timedelta(minutes=job.minutes)
    found: list[tuple[datetime, float, float, int, int]] = []
    for day in days:
        if day.hours is None:
            continue
        open_, close = day.hours
        stops = sorted(day.stops, key=lambda s: s.start)
        booked = sum(s.minutes for s in stops)
        start = open_
        while start + length <= close:
            if start >= not_before:
                position = sum(1 for s in stops if s.start < start)
                stop = Stop(
                    job.job_id,
                    start,
                    start + length,
                    job.point,
                    job.service_type,
                    job.window_start,
                    job.window_end,
                )
                trial = replace(day, stops=(*stops[:position], stop, *stops[position:]))
                if not check_day(trial, travel):
                    added = added_drive(day, stops, position, job, travel)
                    found.append((start, added, booked, day.technician_id, position))
            start += STEP
    found.sort(key=lambda f: (f[0], round(f[1], 1), f[2], f[3]))
    return found


def bench_recommend() -> None:
    print(
        "2. Recommend across 50 technicians × 20 jobs, warm travel "
        "(target: median ≤ 50 ms and ≥ 10× faster than the naive re-check)"
    )
    rng = random.Random(2)
    days = recommend_days(rng)
    job = NewJob(
        job_id=99_999,
        point=site(rng, "Plano"),
        minutes=30,
        service_type="windshield_replacement",
        window_start=at(9),
        window_end=at(17),
    )
    not_before = at(7)
    noon = at(12)
    # What _fits builds: pairs_around every day, departing at noon.
    pairs: set[tuple[Point, Point]] = set()
    for d in days:
        pairs |= pairs_around(d, job.point)
    travel = lookup(pairs, noon)
    # The naive search re-checks whole days with the job anywhere, so it gets every pair per day.
    wide: set[tuple[Point, Point]] = set()
    for d in days:
        wide |= all_pairs([d.home, job.point, *(s.point for s in d.stops)])
    wide_travel = lookup(wide, noon)
    for d in days:
        assert check_day(d, wide_travel) == [], (d.technician_id, check_day(d, wide_travel))

    def run() -> list[Fit]:
        return recommend(days, job, travel, not_before=not_before, limit=10)

    fits = run()
    repeats = 15
    fig = per_call(run, 1, repeats)

    # The naive search over all 50 technicians. It takes about a second and a half, so it is
    # timed in full (fewer repeats) rather than on a subset and scaled.
    naive_runs = 3
    slow = naive(days, job, wide_travel, not_before=not_before)
    baseline = per_call(lambda: naive(days, job, wide_travel, not_before=not_before), 1, naive_runs)
    qualified = sum(1 for d in days if "windshield_replacement" in d.skills)
    print(
        f"  {len(days)} technicians ({qualified} qualified), {sum(len(d.stops) for d in days)} "
        f"jobs; new 30-min windshield job in Plano, window 09:00–17:00; {repeats} repeats "
        f"(naive: {naive_runs}, all {len(days)} technicians, not scaled)"
    )
    row(
        "recommend(limit=10), legs() table precomputed",
        fig,
        "≤ 50 ms",
        fig <= 50e-3,
        "naive: check_day per 5-min start",
        baseline,
    )
    speedup = baseline / fig
    ok = speedup >= 10
    print(f"  speed-up over the naive search {speedup:10.1f}×     target ≥ 10×     {verdict(ok)}")

    def local(t: datetime) -> str:
        return f"{t.astimezone(TZ):%H:%M}"

    placements = {(f[3], f[0]) for f in slow}
    top = fits[0] if fits else None
    in_naive = top is not None and (top.technician_id, top.start) in placements
    offered = sum((f.technician_id, f.start) in placements for f in fits)
    if top is None:
        print(f"  recommend found nothing; the naive search found {len(slow)}  {verdict(False)}")
        return
    print(
        f"  top recommendation: technician {top.technician_id} at {local(top.start)} "
        f"(position {top.position}, +{top.added_drive_minutes} min driving) is among the naive "
        f"search's {len(slow)} feasible placements: {'yes' if in_naive else 'NO'}  "
        f"{verdict(in_naive)}"
    )
    if slow:
        same = (top.technician_id, top.start) == (slow[0][3], slow[0][0])
        print(
            f"  naive search's own top: technician {slow[0][3]} at {local(slow[0][0])} "
            f"(same as recommend's: {'yes' if same else 'no'}); {offered} of {len(fits)} "
            f"recommendations are feasible per the naive search"
        )


# --- 3. optimising a 15-job day ---------------------------------------------------------------


def zigzag_day(rng: random.Random, t: int) -> TechDay:
    """15 jobs bouncing between two neighbouring cities, some pinned, some with windows."""
    north, south = rng.choice(
        (
            ("Plano", "Richardson"),
            ("Richardson", "Garland"),
            ("Plano", "Garland"),
            ("Garland", "Mesquite"),
        )
    )
    pinned = set(rng.sample(range(15), 2))
    visits = [
        Visit(
            site(rng, north if i % 2 == 0 else south, spread=0.03),
            rng.choice((20, 25, 30)),
            "chip_repair",
            slack_minutes=rng.choice((0, 0, 5)),
            window=i not in pinned and rng.random() < 0.3,
            pinned=i in pinned,
        )
        for i in range(15)
    ]
    home = site(rng, north)
    return lay_out(t, home, frozenset(SKILLS), (at(7), at(20)), visits, first_job_id=5000 + 100 * t)


TIME_LIMIT = 1.0  # seconds of OR-Tools search: the rest of the 2 s is model build and margin


def bench_optimize() -> None:
    print(
        "3. Optimising one technician's 15-job day "
        "(target: ≤ 2 s per call; driving never worse than the dispatcher's order)"
    )
    rng = random.Random(3)
    days = [zigzag_day(rng, t) for t in range(1, 6)]
    repeats = 2
    samples: list[float] = []
    print(f"  time_limit_seconds={TIME_LIMIT}; {len(days)} days × {repeats} repeats")
    print("  day  pinned  windows   drive before   drive after   reduction   conflicts  pins kept")
    all_ok, improved = True, 0
    first_travel: Travel | None = None
    for day in days:
        # What _legs_for_day builds: every pair among home and the day's sites, leaving at 08:00.
        travel = lookup(all_pairs([day.home, *(s.point for s in day.stops)]), at(8))
        first_travel = first_travel or travel
        assert check_day(day, travel) == []
        for _ in range(repeats):
            start = time.perf_counter()
            proposal = optimize_day(day, travel, time_limit_seconds=TIME_LIMIT)
            samples.append(time.perf_counter() - start)
        proposed = replace(day, stops=tuple(sorted(proposal.order, key=lambda s: s.start)))
        conflicts = check_day(proposed, travel)
        was = {s.job_id: s.start for s in day.stops}
        pins = all(s.start == was[s.job_id] for s in proposal.order if s.pinned)
        same_jobs = sorted(was) == sorted(s.job_id for s in proposal.order)
        before = drive_minutes(day, sorted(day.stops, key=lambda s: s.start), travel)
        after = drive_minutes(day, proposal.order, travel)
        ok = after <= before + 1e-9 and not conflicts and pins and same_jobs
        all_ok = all_ok and ok
        improved += after < before
        print(
            f"  {day.technician_id:>3}  {sum(s.pinned for s in day.stops):>6}  "
            f"{sum(s.window_start is not None for s in day.stops):>7}  "
            f"{before:10.1f} min {after:10.1f} min  {before - after:7.1f} min  "
            f"{len(conflicts):>9}  {'yes' if pins else 'NO':>9}  {verdict(ok)}"
        )
    fig = statistics.median(samples)
    # Baseline, same run: the API's default time limit (OptimizeRequest.time_limit_seconds = 2.0).
    assert first_travel is not None
    start = time.perf_counter()
    optimize_day(days[0], first_travel)
    default = time.perf_counter() - start
    row(
        f"optimize_day, time limit {TIME_LIMIT:g} s (median)",
        fig,
        "≤ 2000 ms",
        max(samples) <= 2.0,  # judged on the slowest call, not only the median
        "optimize_day, default time limit 2 s (1 run)",
        default,
    )
    print(
        f"  slowest call {ms(max(samples)).strip()}; the default-limit call "
        f"{'meets' if default <= 2.0 else 'MISSES'} the 2 s target; "
        f"days with less driving: {improved} of {len(days)}"
    )
    print(f"  driving never worse, no conflicts, pins kept, on every day: {verdict(all_ok)}")


def main() -> None:
    print(
        "Routeboard scheduling benchmarks — medians over repeats, baselines measured in this run\n"
    )
    bench_placement()
    print()
    bench_recommend()
    print()
    bench_optimize()


if __name__ == "__main__":
    main()
