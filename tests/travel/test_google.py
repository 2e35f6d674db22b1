"""GoogleProvider against a local server speaking the Distance Matrix API."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from routeboard.travel.estimate import Point, great_circle_meters
from routeboard.travel.service import GoogleProvider, TravelError
from tests.travel.conftest import API_KEY
from tests.travel.fakes import T0, Clock, FakeGoogle, FakeServer, google_top

pytestmark = pytest.mark.anyio

PLANO = Point(33.0198, -96.6989)
FRISCO = Point(33.1507, -96.8236)
MCKINNEY = Point(33.1972, -96.6398)
MESQUITE = Point(32.7668, -96.5992)
LATER = T0 + timedelta(hours=2)


def provider(
    server: FakeServer,
    client: httpx.AsyncClient,
    clock: Clock,
    *,
    key: str = API_KEY,
    timeout: float = 2.0,
) -> GoogleProvider:
    return GoogleProvider(key, server.url, client, timeout, clock=clock)


async def test_a_matrix_is_one_request_with_latitude_first_and_traffic_preferred(
    google: FakeServer, client: httpx.AsyncClient, clock: Clock
) -> None:
    grid = await provider(google, client, clock).matrix(
        [PLANO, MCKINNEY], [FRISCO, MESQUITE, PLANO], LATER
    )

    [seen] = google.requests
    assert seen.path == "/maps/api/distancematrix/json"
    assert seen.query == {
        "origins": "33.019800,-96.698900|33.197200,-96.639800",
        "destinations": "33.150700,-96.823600|32.766800,-96.599200|33.019800,-96.698900",
        "departure_time": str(int(LATER.timestamp())),
        "mode": "driving",
        "key": API_KEY,
    }
    for row, origin in zip(grid, [PLANO, MCKINNEY], strict=True):
        for leg, destination in zip(row, [FRISCO, MESQUITE, PLANO], strict=True):
            metres = great_circle_meters(origin, destination)
            assert leg.minutes == pytest.approx(round(round(metres / 20) * 1.5) / 60)
            assert leg.meters == round(metres * 1.3)
            assert (leg.approximate, leg.source) == (False, "google")


async def test_without_traffic_data_the_plain_duration_is_used(
    google: FakeServer, google_fake: FakeGoogle, client: httpx.AsyncClient, clock: Clock
) -> None:
    google_fake.traffic = False
    [[leg]] = await provider(google, client, clock).matrix([PLANO], [FRISCO], LATER)
    assert leg.minutes == pytest.approx(round(great_circle_meters(PLANO, FRISCO) / 20) / 60)


@pytest.mark.parametrize(
    "offset",
    [timedelta(hours=-1), timedelta(0), timedelta(seconds=5)],
    ids=["past", "now", "within-slack"],
)
async def test_a_departure_not_ahead_of_now_is_sent_as_now(
    google: FakeServer, client: httpx.AsyncClient, clock: Clock, offset: timedelta
) -> None:
    [[leg]] = await provider(google, client, clock).matrix([PLANO], [FRISCO], T0 + offset)
    assert google.requests[0].query["departure_time"] == "now"
    assert leg.approximate is False


async def test_a_past_unix_departure_is_what_google_refuses(
    google: FakeServer, client: httpx.AsyncClient, clock: Clock
) -> None:
    # The fake refuses the way Google does; a provider that sent the raw time would hit this.
    google_late = provider(google, client, Clock(T0 - timedelta(hours=2)))
    with pytest.raises(TravelError, match=r"INVALID_REQUEST \(departure_time is in the past"):
        await google_late.matrix([PLANO], [FRISCO], T0 - timedelta(hours=1))


async def test_a_large_matrix_is_split_within_googles_limits(
    google: FakeServer, client: httpx.AsyncClient, clock: Clock
) -> None:
    origins = [Point(33.0 + i / 100, -96.7) for i in range(6)]
    destinations = [Point(32.9, -96.8 + j / 100) for j in range(30)]

    grid = await provider(google, client, clock).matrix(origins, destinations, LATER)

    # 25 destinations allow 4 origins per request: origins 4+2 × destinations 25+5.
    assert len(google.requests) == 4
    for seen in google.requests:
        o, d = seen.query["origins"].count("|") + 1, seen.query["destinations"].count("|") + 1
        assert o <= 25 and d <= 25 and o * d <= 100
    for o_, row in zip(origins, grid, strict=True):
        for d_, leg in zip(destinations, row, strict=True):
            assert leg.meters == round(great_circle_meters(o_, d_) * 1.3)


async def test_a_wrong_key_is_request_denied(
    google: FakeServer, client: httpx.AsyncClient, clock: Clock
) -> None:
    with pytest.raises(TravelError, match=r"REQUEST_DENIED \(The provided API key is invalid"):
        await provider(google, client, clock, key="wrong").matrix([PLANO], [FRISCO], LATER)


@pytest.mark.parametrize(
    "status",
    ["OVER_QUERY_LIMIT", "OVER_DAILY_LIMIT", "MAX_ELEMENTS_EXCEEDED", "UNKNOWN_ERROR"],
)
async def test_a_top_level_status_raises(
    google: FakeServer, client: httpx.AsyncClient, clock: Clock, status: str
) -> None:
    google.override = lambda seen: google_top(status, "You have exceeded your rate-limit.")
    with pytest.raises(TravelError, match=f"google: {status} "):
        await provider(google, client, clock).matrix([PLANO], [FRISCO], LATER)


@pytest.mark.parametrize("status", ["NOT_FOUND", "ZERO_RESULTS", "MAX_ROUTE_LENGTH_EXCEEDED"])
async def test_an_element_status_raises(
    google: FakeServer,
    google_fake: FakeGoogle,
    client: httpx.AsyncClient,
    clock: Clock,
    status: str,
) -> None:
    google_fake.element_status[(0, 1)] = status
    with pytest.raises(TravelError, match=rf"element \[0\]\[1\] is {status}"):
        await provider(google, client, clock).matrix([PLANO], [FRISCO, MESQUITE], LATER)


@pytest.mark.parametrize(
    ("status", "body", "match"),
    [
        (500, b"<html>Server Error</html>", "HTTP 500"),
        (200, b'{"status": "OK", "rows": [', "body is not JSON"),
        (200, {"status": "OK", "rows": []}, "expected 1 rows"),
        (200, {"status": "OK", "rows": [{"elements": []}]}, "expected 1 elements in row 0"),
        (200, {"status": "OK", "rows": [{"elements": [{"status": "OK"}]}]}, "lacks duration"),
        (
            200,
            {
                "status": "OK",
                "rows": [
                    {
                        "elements": [
                            {"status": "OK", "duration": {"value": "9"}, "distance": {"value": 9}}
                        ]
                    }
                ],
            },
            "expected a number",
        ),
    ],
)
async def test_a_broken_answer_raises(
    google: FakeServer,
    client: httpx.AsyncClient,
    clock: Clock,
    status: int,
    body: object,
    match: str,
) -> None:
    google.override = lambda seen: (status, body)
    with pytest.raises(TravelError, match=match):
        await provider(google, client, clock).matrix([PLANO], [FRISCO], LATER)


async def test_a_slow_server_times_out_without_leaking_the_key(
    google: FakeServer, client: httpx.AsyncClient, clock: Clock
) -> None:
    google.delay = 2.0
    with pytest.raises(TravelError, match=r"no answer within 0\.2 s") as caught:
        await provider(google, client, clock, timeout=0.2).matrix([PLANO], [FRISCO], LATER)
    assert API_KEY not in str(caught.value)
