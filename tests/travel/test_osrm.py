"""OsrmProvider against a local server speaking OSRM's table API."""

from __future__ import annotations

import httpx
import pytest

from routeboard.travel.estimate import Point, great_circle_meters
from routeboard.travel.service import OsrmProvider, TravelError
from tests.travel.fakes import T0, FakeOsrm, FakeServer

pytestmark = pytest.mark.anyio

PLANO = Point(33.0198, -96.6989)
FRISCO = Point(33.1507, -96.8236)
MCKINNEY = Point(33.1972, -96.6398)
MESQUITE = Point(32.7668, -96.5992)


def provider(server: FakeServer, client: httpx.AsyncClient, timeout: float = 2.0) -> OsrmProvider:
    return OsrmProvider(server.url + "/", client, timeout)


async def test_a_matrix_is_one_table_request_with_longitude_first(
    osrm: FakeServer, client: httpx.AsyncClient
) -> None:
    grid = await provider(osrm, client).matrix([PLANO, MCKINNEY], [FRISCO, MESQUITE, PLANO], T0)

    [seen] = osrm.requests
    assert seen.target.startswith(
        "/table/v1/driving/-96.698900,33.019800;-96.639800,33.197200;"
        "-96.823600,33.150700;-96.599200,32.766800;-96.698900,33.019800?"
    )
    # OSRM splits on literal separators; escaped ones would be a malformed query.
    assert "%3B" not in seen.target and "%2C" not in seen.target
    assert seen.query == {
        "sources": "0;1",
        "destinations": "2;3;4",
        "annotations": "duration,distance",
    }
    for row, origin in zip(grid, [PLANO, MCKINNEY], strict=True):
        for leg, destination in zip(row, [FRISCO, MESQUITE, PLANO], strict=True):
            metres = great_circle_meters(origin, destination)
            assert leg.minutes == pytest.approx(metres / 20 / 60)
            assert leg.meters == pytest.approx(metres * 1.3)
            assert (leg.approximate, leg.source) == (False, "osrm")


async def test_nothing_asked_means_no_request(osrm: FakeServer, client: httpx.AsyncClient) -> None:
    assert await provider(osrm, client).matrix([], [PLANO], T0) == []
    assert await provider(osrm, client).matrix([PLANO], [], T0) == [[]]
    assert osrm.requests == []


async def test_a_matrix_over_the_table_size_limit_is_split(
    osrm: FakeServer, client: httpx.AsyncClient
) -> None:
    origins = [Point(33.0 + i / 100, -96.7) for i in range(3)]
    destinations = [Point(32.9, -96.8 + j / 100) for j in range(7)]
    small = OsrmProvider(osrm.url, client, 2.0, max_locations=6)

    grid = await small.matrix(origins, destinations, T0)

    assert len(osrm.requests) == 3  # 3 origins × destinations in blocks of 3, 3 and 1
    for seen in osrm.requests:
        assert len(seen.path.split(";")) <= 6
    for o, row in zip(origins, grid, strict=True):
        for d, leg in zip(destinations, row, strict=True):
            assert leg.meters == pytest.approx(great_circle_meters(o, d) * 1.3)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("InvalidQuery", "Query string malformed close to position 28"),
        ("NoTable", "No table found"),
        ("NoSegment", "Could not find a matching segment for coordinate 1"),
        ("TooBig", "Too many table coordinates"),
        ("NotImplemented", "Distance Table is not supported for MLD"),
    ],
)
async def test_an_osrm_error_code_raises(
    osrm: FakeServer, client: httpx.AsyncClient, code: str, message: str
) -> None:
    osrm.override = lambda seen: (400, {"code": code, "message": message})
    with pytest.raises(TravelError, match=f"osrm: {code} \\({message}\\)"):
        await provider(osrm, client).matrix([PLANO], [FRISCO], T0)


async def test_an_unroutable_pair_raises(
    osrm: FakeServer, osrm_fake: FakeOsrm, client: httpx.AsyncClient
) -> None:
    osrm_fake.unroutable.add((0, 2))  # coordinate 0 is the origin; 2 the second destination
    with pytest.raises(TravelError, match="no route from origin 0 to destination 1"):
        await provider(osrm, client).matrix([PLANO], [FRISCO, MESQUITE], T0)


@pytest.mark.parametrize(
    ("status", "body", "match"),
    [
        (500, b"Internal Server Error", "HTTP 500, body is not JSON"),
        (200, b'{"code": "Ok", "durations": [[1', "body is not JSON"),
        (200, [1, 2], "not a JSON object"),
        (200, {"code": "Ok", "durations": [[60]]}, "osrm distances: expected 1 rows"),
        (200, {"code": "Ok", "durations": [[60, 1]], "distances": [[9]]}, "expected 2 columns"),
        (200, {"code": "Ok", "durations": [["60"]], "distances": [[9]]}, "expected a number"),
        (200, {"code": "Ok", "durations": [[-1]], "distances": [[9]]}, "non-negative"),
        (502, {"code": "Ok", "durations": [[60]], "distances": [[9]]}, "HTTP 502"),
    ],
)
async def test_a_broken_answer_raises(
    osrm: FakeServer, client: httpx.AsyncClient, status: int, body: object, match: str
) -> None:
    osrm.override = lambda seen: (status, body)
    destinations = [FRISCO, MESQUITE] if "2 columns" in match else [FRISCO]
    with pytest.raises(TravelError, match=match):
        await provider(osrm, client).matrix([PLANO], destinations, T0)


async def test_a_slow_server_times_out(osrm: FakeServer, client: httpx.AsyncClient) -> None:
    osrm.delay = 2.0
    with pytest.raises(TravelError, match=r"no answer within 0\.2 s"):
        await provider(osrm, client, timeout=0.2).matrix([PLANO], [FRISCO], T0)


async def test_an_unreachable_server_raises(client: httpx.AsyncClient) -> None:
    closed = FakeServer(FakeOsrm())
    url = closed.url
    closed.close()
    with pytest.raises(TravelError, match="ConnectError"):
        await OsrmProvider(url, client, 1.0).matrix([PLANO], [FRISCO], T0)


async def test_a_naive_departure_is_refused(osrm: FakeServer, client: httpx.AsyncClient) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await provider(osrm, client).matrix([PLANO], [FRISCO], T0.replace(tzinfo=None))
