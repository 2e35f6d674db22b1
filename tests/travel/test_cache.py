"""CachedTravel, EstimateProvider and make_travel: the travel layer as scheduling sees it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import anyio
import httpx
import pytest

from routeboard.config import Settings
from routeboard.travel.estimate import Leg, Point, estimate
from routeboard.travel.service import (
    CachedTravel,
    EstimateProvider,
    GoogleProvider,
    OsrmProvider,
    TravelError,
    make_travel,
)
from tests.travel.conftest import API_KEY
from tests.travel.fakes import T0, Clock, FakeServer

pytestmark = pytest.mark.anyio

DALLAS = ZoneInfo("America/Chicago")
PLANO = Point(33.0198, -96.6989)
FRISCO = Point(33.1507, -96.8236)
MCKINNEY = Point(33.1972, -96.6398)
MESQUITE = Point(32.7668, -96.5992)


class Scripted:
    """An in-memory provider that answers 1 minute per call made so far and records each call."""

    name = "scripted"

    def __init__(self) -> None:
        self.calls: list[tuple[list[Point], list[Point], datetime]] = []
        self.error: Exception | None = None
        self.sleep = 0.0

    async def matrix(
        self, origins: Sequence[Point], destinations: Sequence[Point], depart_at: datetime
    ) -> list[list[Leg]]:
        self.calls.append((list(origins), list(destinations), depart_at))
        if self.sleep:
            await anyio.sleep(self.sleep)
        if self.error:
            raise self.error
        n = float(len(self.calls))
        return [[Leg(n, 1000.0, False, self.name) for _ in destinations] for _ in origins]


def cached(
    inner: Scripted | OsrmProvider,
    clock: Clock,
    *,
    ttl_seconds: int = 900,
    max_entries: int = 1000,
    timeout_seconds: float | None = None,
    retry_after_seconds: float = 30.0,
) -> CachedTravel:
    return CachedTravel(
        inner,
        EstimateProvider(DALLAS),
        ttl_seconds=ttl_seconds,
        clock=clock,
        max_entries=max_entries,
        timeout_seconds=timeout_seconds,
        retry_after_seconds=retry_after_seconds,
    )


async def test_a_repeated_request_is_served_from_the_cache(
    osrm: FakeServer, client: httpx.AsyncClient, clock: Clock
) -> None:
    travel = cached(OsrmProvider(osrm.url, client, 2.0), clock)

    first = await travel.matrix([PLANO], [FRISCO, MESQUITE], T0)
    second = await travel.matrix([PLANO], [FRISCO, MESQUITE], T0 + timedelta(minutes=5))

    assert second == first
    assert len(osrm.requests) == 1
    assert (travel.hits, travel.misses, travel.fallbacks) == (2, 2, 0)
    assert travel.name == "osrm"


async def test_only_the_missing_pairs_are_asked_for(clock: Clock) -> None:
    inner = Scripted()
    travel = cached(inner, clock)
    await travel.matrix([PLANO], [FRISCO], T0)

    grid = await travel.matrix([PLANO, MCKINNEY], [FRISCO, MESQUITE], T0)

    origins, destinations, _ = inner.calls[1]
    # Plano→Frisco is held; the other three pairs need both origins and both destinations.
    assert (origins, destinations) == ([PLANO, MCKINNEY], [FRISCO, MESQUITE])
    assert [[leg.minutes for leg in row] for row in grid] == [[1.0, 2.0], [2.0, 2.0]]
    assert (travel.hits, travel.misses) == (1, 4)


async def test_points_within_about_ten_metres_share_an_entry(clock: Clock) -> None:
    inner = Scripted()
    travel = cached(inner, clock)
    await travel.matrix([PLANO], [FRISCO], T0)
    nearby = Point(PLANO.lat + 0.00002, PLANO.lon - 0.00002)

    await travel.matrix([nearby], [FRISCO], T0)

    assert len(inner.calls) == 1
    assert travel.hits == 1


async def test_a_departure_in_another_bucket_is_asked_again_at_the_bucket_start(
    clock: Clock,
) -> None:
    inner = Scripted()
    travel = cached(inner, clock)
    await travel.matrix([PLANO], [FRISCO], T0 + timedelta(minutes=2))
    await travel.matrix([PLANO], [FRISCO], T0 + timedelta(minutes=14, seconds=59))
    await travel.matrix([PLANO], [FRISCO], T0 + timedelta(minutes=15))

    assert [call[2] for call in inner.calls] == [T0, T0 + timedelta(minutes=15)]


async def test_an_entry_expires_after_the_ttl(
    osrm: FakeServer, client: httpx.AsyncClient, clock: Clock
) -> None:
    travel = cached(OsrmProvider(osrm.url, client, 2.0), clock, ttl_seconds=600)
    await travel.matrix([PLANO], [FRISCO], T0 + timedelta(hours=3))

    clock.now += timedelta(seconds=599)
    await travel.matrix([PLANO], [FRISCO], T0 + timedelta(hours=3))
    assert len(osrm.requests) == 1

    clock.now += timedelta(seconds=1)
    await travel.matrix([PLANO], [FRISCO], T0 + timedelta(hours=3))
    assert len(osrm.requests) == 2


async def test_a_zero_ttl_caches_nothing(clock: Clock) -> None:
    inner = Scripted()
    travel = cached(inner, clock, ttl_seconds=0)
    await travel.matrix([PLANO], [FRISCO], T0)
    await travel.matrix([PLANO], [FRISCO], T0)
    assert len(inner.calls) == 2
    assert len(travel) == 0


async def test_the_oldest_entries_are_evicted_past_the_bound(clock: Clock) -> None:
    inner = Scripted()
    travel = cached(inner, clock, max_entries=2)
    await travel.matrix([PLANO], [FRISCO], T0)
    await travel.matrix([PLANO], [MESQUITE], T0)
    await travel.matrix([PLANO], [MCKINNEY], T0)
    assert len(travel) == 2

    await travel.matrix([PLANO], [MCKINNEY, MESQUITE], T0)
    assert len(inner.calls) == 3  # the two newest are still held
    await travel.matrix([PLANO], [FRISCO], T0)
    assert len(inner.calls) == 4  # the oldest went


async def test_an_outage_answers_with_the_estimate_marked_approximate(
    osrm: FakeServer, client: httpx.AsyncClient, clock: Clock
) -> None:
    osrm.override = lambda seen: (500, b"Internal Server Error")
    travel = cached(OsrmProvider(osrm.url, client, 2.0), clock)

    grid = await travel.matrix([MCKINNEY, PLANO], [MESQUITE, FRISCO], T0)

    local = T0.astimezone(DALLAS)
    for o, row in zip([MCKINNEY, PLANO], grid, strict=True):
        for d, leg in zip([MESQUITE, FRISCO], row, strict=True):
            model = estimate(o, d, local)
            assert leg == Leg(model.minutes, model.meters, approximate=True, source="estimate")
    assert travel.fallbacks == 4
    assert len(travel) == 0  # a stand-in is never cached


async def test_held_pairs_stay_real_when_the_rest_fall_back(clock: Clock) -> None:
    inner = Scripted()
    travel = cached(inner, clock)
    await travel.matrix([PLANO], [FRISCO], T0)
    inner.error = TravelError("down")

    [[held, stand_in]] = await travel.matrix([PLANO], [FRISCO, MESQUITE], T0)

    assert (held.approximate, held.source) == (False, "scripted")
    assert (stand_in.approximate, stand_in.source) == (True, "estimate")


async def test_a_slow_provider_is_cut_off_at_the_timeout(clock: Clock) -> None:
    inner = Scripted()
    inner.sleep = 5.0
    travel = cached(inner, clock, timeout_seconds=0.1)

    with anyio.fail_after(2):
        [[leg]] = await travel.matrix([PLANO], [FRISCO], T0)

    assert leg.approximate is True
    assert travel.fallbacks == 1


async def test_a_slow_server_falls_back(
    osrm: FakeServer, client: httpx.AsyncClient, clock: Clock
) -> None:
    osrm.delay = 2.0
    travel = cached(OsrmProvider(osrm.url, client, 0.1), clock)
    [[leg]] = await travel.matrix([PLANO], [FRISCO], T0)
    assert leg.approximate is True


async def test_a_crashing_provider_falls_back_too(clock: Clock) -> None:
    inner = Scripted()
    inner.error = KeyError("durations")
    travel = cached(inner, clock)
    [[leg]] = await travel.matrix([PLANO], [FRISCO], T0)
    assert leg.approximate is True


async def test_after_an_outage_the_provider_rests_then_is_asked_again(
    osrm: FakeServer, client: httpx.AsyncClient, clock: Clock
) -> None:
    osrm.override = lambda seen: (400, {"code": "NoSegment", "message": "Could not snap"})
    travel = cached(OsrmProvider(osrm.url, client, 2.0), clock, retry_after_seconds=30)
    await travel.matrix([PLANO], [FRISCO], T0)

    clock.now += timedelta(seconds=29)
    [[leg]] = await travel.matrix([PLANO], [FRISCO], T0)
    assert leg.approximate is True
    assert len(osrm.requests) == 1  # resting: one outage, one wasted request

    osrm.override = None
    clock.now += timedelta(seconds=1)
    [[leg]] = await travel.matrix([PLANO], [FRISCO], T0)
    assert (leg.approximate, leg.source) == (False, "osrm")
    assert len(osrm.requests) == 2
    assert travel.fallbacks == 2


async def test_the_estimate_provider_reads_the_departure_in_the_business_zone() -> None:
    provider = EstimateProvider(DALLAS)
    # 15:00 UTC on 1 December is 09:00 in Dallas.
    [[leg]] = await provider.matrix([MCKINNEY], [MESQUITE], T0)
    assert leg == estimate(MCKINNEY, MESQUITE, datetime(2026, 12, 1, 9, tzinfo=DALLAS))
    with pytest.raises(ValueError, match="timezone-aware"):
        await provider.matrix([MCKINNEY], [MESQUITE], T0.replace(tzinfo=None))


async def test_make_travel_picks_the_provider_from_settings(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    plain = make_travel(Settings(), client, clock)
    assert isinstance(plain, EstimateProvider)

    osrm = make_travel(Settings(travel_provider="osrm", travel_cache_seconds=60), client, clock)
    assert isinstance(osrm, CachedTravel) and isinstance(osrm.inner, OsrmProvider)
    assert osrm.ttl == timedelta(seconds=60)
    assert osrm.timeout_seconds == Settings().travel_timeout_seconds

    google = make_travel(
        Settings(travel_provider="google", google_maps_api_key=API_KEY), client, clock
    )
    assert isinstance(google, CachedTravel) and isinstance(google.inner, GoogleProvider)
    assert google.inner.clock is clock

    with pytest.raises(ValueError, match="GOOGLE_MAPS_API_KEY"):
        make_travel(Settings(travel_provider="google"), client, clock)


async def test_make_travel_google_end_to_end(
    google: FakeServer, client: httpx.AsyncClient, clock: Clock
) -> None:
    settings = Settings(
        travel_provider="google", google_maps_api_key=API_KEY, google_maps_url=google.url
    )
    travel = make_travel(settings, client, clock)
    for _ in range(2):
        [[leg]] = await travel.matrix([PLANO], [FRISCO], T0 + timedelta(hours=1))
        assert (leg.approximate, leg.source) == (False, "google")
    assert len(google.requests) == 1
