"""Travel-time providers behind one small Protocol, and the cache that shields scheduling from them.

``EstimateProvider`` is the offline model (the in-memory twin and the default). ``OsrmProvider``
and ``GoogleProvider`` speak the real HTTP APIs. ``CachedTravel`` sits in front of a real one:
it answers repeated pairs from memory and, when the provider fails or is slow, answers with the
estimate marked ``approximate=True`` instead of failing the dispatcher's request.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import anyio
import httpx

from routeboard.clock import Clock, system_clock
from routeboard.config import Settings
from routeboard.travel.estimate import Leg, Point, estimate_matrix

log = logging.getLogger(__name__)

# Google's documented per-request limits for server-side Distance Matrix calls.
GOOGLE_MAX_ORIGINS = 25
GOOGLE_MAX_DESTINATIONS = 25
GOOGLE_MAX_ELEMENTS = 100
# osrm-routed's default --max-table-size: sources plus destinations in one table request.
OSRM_MAX_LOCATIONS = 100
# A departure closer than this to "now" is sent as "now": by the time Google reads the request
# (latency, our clock against theirs) it could already be in the past, which Google rejects.
GOOGLE_NOW_SLACK = timedelta(seconds=10)


class TravelError(Exception):
    """A provider could not answer (error status, HTTP failure, timeout, unroutable pair)."""


class TravelProvider(Protocol):
    """Drive times for a matrix of places; ``depart_at`` is an aware instant (UTC by convention)."""

    name: str

    async def matrix(
        self, origins: Sequence[Point], destinations: Sequence[Point], depart_at: datetime
    ) -> list[list[Leg]]:
        """Legs for every origin (row) to every destination (column), leaving at ``depart_at``."""
        ...


def _require_aware(depart_at: datetime) -> None:
    # A naive datetime would be read in the server's own zone: a silent hours-off error.
    if depart_at.tzinfo is None or depart_at.utcoffset() is None:
        raise ValueError("depart_at must be timezone-aware")


class EstimateProvider:
    """The offline model as a provider: reads the departure in the business timezone."""

    name = "estimate"

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz

    async def matrix(
        self, origins: Sequence[Point], destinations: Sequence[Point], depart_at: datetime
    ) -> list[list[Leg]]:
        _require_aware(depart_at)
        return estimate_matrix(origins, destinations, depart_at.astimezone(self.tz))


Fetch = Callable[[Sequence[Point], Sequence[Point], datetime], Awaitable[list[list[Leg]]]]


async def _in_blocks(
    fetch: Fetch,
    origins: Sequence[Point],
    destinations: Sequence[Point],
    depart_at: datetime,
    *,
    max_origins: int,
    max_destinations: int,
) -> list[list[Leg]]:
    """Split a matrix that exceeds a provider's request limits; fetch the blocks concurrently."""
    if not origins:
        return []
    if not destinations:
        return [[] for _ in origins]
    if len(origins) <= max_origins and len(destinations) <= max_destinations:
        return await fetch(origins, destinations, depart_at)
    grid: list[list[Leg | None]] = [[None] * len(destinations) for _ in origins]
    errors: list[TravelError] = []

    async def block(oi: int, di: int) -> None:
        os_, ds = origins[oi : oi + max_origins], destinations[di : di + max_destinations]
        try:
            rows = await fetch(os_, ds, depart_at)
        except TravelError as exc:
            errors.append(exc)
            return
        for r, row in enumerate(rows):
            grid[oi + r][di : di + len(row)] = row

    async with anyio.create_task_group() as tg:
        for oi in range(0, len(origins), max_origins):
            for di in range(0, len(destinations), max_destinations):
                tg.start_soon(block, oi, di)
    if errors:
        raise errors[0]
    return [[leg for leg in row if leg is not None] for row in grid]


def _json(response: httpx.Response, provider: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise TravelError(f"{provider}: HTTP {response.status_code}, body is not JSON") from exc
    if not isinstance(body, dict):
        raise TravelError(f"{provider}: HTTP {response.status_code}, body is not a JSON object")
    return body


def _number(value: object, what: str) -> float:
    # bool is an int subclass; a true/false here would be a malformed answer, not 1 or 0.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TravelError(f"{what}: expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise TravelError(f"{what}: expected a non-negative number, got {value!r}")
    return number


def _grid(value: object, rows: int, cols: int, what: str) -> list[list[object]]:
    if not (isinstance(value, list) and len(value) == rows):
        raise TravelError(f"{what}: expected {rows} rows")
    for row in value:
        if not (isinstance(row, list) and len(row) == cols):
            raise TravelError(f"{what}: expected {cols} columns in every row")
    return value


async def _get(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    params: dict[str, str] | None,
    seconds: float,
) -> httpx.Response:
    try:
        return await client.get(url, params=params, timeout=seconds)
    except httpx.TimeoutException as exc:
        raise TravelError(f"{provider}: no answer within {seconds:g} s") from exc
    except httpx.HTTPError as exc:
        # The message names the failure, never the URL: Google's carries the API key.
        raise TravelError(f"{provider}: {type(exc).__name__}: {exc}") from exc


class OsrmProvider:
    """OSRM's table service. OSRM knows no traffic: its durations are free-flow."""

    name = "osrm"

    def __init__(
        self,
        base_url: str,
        client: httpx.AsyncClient,
        timeout: float,
        *,
        max_locations: int = OSRM_MAX_LOCATIONS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client
        self.timeout = timeout
        self.max_locations = max_locations

    async def matrix(
        self, origins: Sequence[Point], destinations: Sequence[Point], depart_at: datetime
    ) -> list[list[Leg]]:
        _require_aware(depart_at)
        if len(origins) + len(destinations) <= self.max_locations:
            max_o, max_d = len(origins), len(destinations)
        else:
            max_d = min(len(destinations), self.max_locations // 2)
            max_o = self.max_locations - max_d
        return await _in_blocks(
            self._table, origins, destinations, depart_at, max_origins=max_o, max_destinations=max_d
        )

    async def _table(
        self, origins: Sequence[Point], destinations: Sequence[Point], depart_at: datetime
    ) -> list[list[Leg]]:
        # OSRM wants longitude first. The query is written out by hand because OSRM splits lists
        # on literal ';' and ',' which a form encoder would percent-escape.
        coords = ";".join(f"{p.lon:.6f},{p.lat:.6f}" for p in [*origins, *destinations])
        n = len(origins)
        sources = ";".join(str(i) for i in range(n))
        targets = ";".join(str(n + j) for j in range(len(destinations)))
        url = (
            f"{self.base_url}/table/v1/driving/{coords}"
            f"?sources={sources}&destinations={targets}&annotations=duration,distance"
        )
        response = await _get(self.client, "osrm", url, None, self.timeout)
        # Errors come as HTTP 400 with a JSON body naming the code; read the body first.
        body = _json(response, "osrm")
        code = body.get("code")
        if code != "Ok":
            raise TravelError(f"osrm: {code} ({body.get('message', 'no message')})")
        if response.status_code != 200:
            raise TravelError(f"osrm: HTTP {response.status_code}")
        rows, cols = len(origins), len(destinations)
        durations = _grid(body.get("durations"), rows, cols, "osrm durations")
        distances = _grid(body.get("distances"), rows, cols, "osrm distances")
        legs: list[list[Leg]] = []
        for i in range(rows):
            row: list[Leg] = []
            for j in range(cols):
                if durations[i][j] is None or distances[i][j] is None:
                    raise TravelError(f"osrm: no route from origin {i} to destination {j}")
                seconds = _number(durations[i][j], f"osrm duration [{i}][{j}]")
                meters = _number(distances[i][j], f"osrm distance [{i}][{j}]")
                row.append(Leg(seconds / 60.0, meters, approximate=False, source=self.name))
            legs.append(row)
        return legs


class GoogleProvider:
    """Google's Distance Matrix API (driving, with traffic for the departure time)."""

    name = "google"

    def __init__(
        self,
        api_key: str,
        base_url: str,
        client: httpx.AsyncClient,
        timeout: float,
        *,
        clock: Clock = system_clock,
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.client = client
        self.timeout = timeout
        self.clock = clock

    async def matrix(
        self, origins: Sequence[Point], destinations: Sequence[Point], depart_at: datetime
    ) -> list[list[Leg]]:
        _require_aware(depart_at)
        max_d = min(len(destinations), GOOGLE_MAX_DESTINATIONS) or 1
        max_o = min(GOOGLE_MAX_ORIGINS, GOOGLE_MAX_ELEMENTS // max_d)
        return await _in_blocks(
            self._distance_matrix,
            origins,
            destinations,
            depart_at,
            max_origins=max_o,
            max_destinations=max_d,
        )

    def departure_time(self, depart_at: datetime) -> str:
        """The ``departure_time`` parameter: unix seconds, or "now" for anything not ahead of us."""
        if depart_at <= self.clock() + GOOGLE_NOW_SLACK:
            return "now"
        return str(math.ceil(depart_at.timestamp()))

    async def _distance_matrix(
        self, origins: Sequence[Point], destinations: Sequence[Point], depart_at: datetime
    ) -> list[list[Leg]]:
        params = {
            "origins": "|".join(f"{p.lat:.6f},{p.lon:.6f}" for p in origins),
            "destinations": "|".join(f"{p.lat:.6f},{p.lon:.6f}" for p in destinations),
            "departure_time": self.departure_time(depart_at),
            "mode": "driving",
            "key": self.api_key,
        }
        url = f"{self.base_url}/maps/api/distancematrix/json"
        response = await _get(self.client, "google", url, params, self.timeout)
        if response.status_code != 200:
            raise TravelError(f"google: HTTP {response.status_code}")
        body = _json(response, "google")
        status = body.get("status")
        if status != "OK":
            raise TravelError(f"google: {status} ({body.get('error_message', 'no message')})")
        rows = body.get("rows")
        if not (isinstance(rows, list) and len(rows) == len(origins)):
            raise TravelError(f"google: expected {len(origins)} rows")
        legs: list[list[Leg]] = []
        for i, row in enumerate(rows):
            elements = row.get("elements") if isinstance(row, dict) else None
            if not (isinstance(elements, list) and len(elements) == len(destinations)):
                raise TravelError(f"google: expected {len(destinations)} elements in row {i}")
            legs.append([self._leg(e, i, j) for j, e in enumerate(elements)])
        return legs

    def _leg(self, element: object, i: int, j: int) -> Leg:
        if not isinstance(element, dict):
            raise TravelError(f"google: element [{i}][{j}] is not an object")
        status = element.get("status")
        if status != "OK":
            raise TravelError(f"google: element [{i}][{j}] is {status}")
        # duration_in_traffic is only present with a departure time, a key and traffic data.
        timed = element.get("duration_in_traffic") or element.get("duration")
        distance = element.get("distance")
        if not (isinstance(timed, dict) and isinstance(distance, dict)):
            raise TravelError(f"google: element [{i}][{j}] lacks duration or distance")
        seconds = _number(timed.get("value"), f"google duration [{i}][{j}]")
        meters = _number(distance.get("value"), f"google distance [{i}][{j}]")
        return Leg(seconds / 60.0, meters, approximate=False, source=self.name)


# Origin lat, lon, destination lat, lon (rounded to 4 decimals, ~11 m), bucket start (unix s).
CacheKey = tuple[float, float, float, float, int]


def _place(p: Point) -> tuple[float, float]:
    return round(p.lat, 4), round(p.lon, 4)


class CachedTravel:
    """A provider that remembers answers per (origin, destination, departure bucket).

    Only the pairs it does not hold go to ``inner``, in one matrix request. When ``inner`` fails
    or overruns ``timeout_seconds``, the missing pairs are answered by ``fallback`` and marked
    ``approximate=True``; this never raises to the caller, because a scheduling decision on an
    estimate beats no decision. Fallback legs are never cached, so the real answer returns as soon
    as the provider does; but after a failure ``inner`` is left alone for ``retry_after_seconds``
    so that an outage costs one timeout, not one per request.
    """

    def __init__(
        self,
        inner: TravelProvider,
        fallback: EstimateProvider,
        *,
        ttl_seconds: int,
        bucket_minutes: int = 15,
        clock: Clock,
        max_entries: int = 50_000,
        timeout_seconds: float | None = None,
        retry_after_seconds: float = 30.0,
    ) -> None:
        if bucket_minutes < 1:
            raise ValueError("bucket_minutes must be at least 1")
        self.inner = inner
        self.fallback = fallback
        self.name = inner.name
        self.ttl = timedelta(seconds=ttl_seconds)
        self.bucket_seconds = bucket_minutes * 60
        self.clock = clock
        self.max_entries = max_entries
        self.timeout_seconds = timeout_seconds
        self.retry_after = timedelta(seconds=retry_after_seconds)
        self.hits = 0
        self.misses = 0
        self.fallbacks = 0
        self.inner_calls = 0
        self._entries: OrderedDict[CacheKey, tuple[Leg, datetime]] = OrderedDict()
        self._resting_until: datetime | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def bucket(self, depart_at: datetime) -> datetime:
        """The start of the departure bucket ``depart_at`` falls in (UTC)."""
        seconds = math.floor(depart_at.timestamp())
        return datetime.fromtimestamp(seconds - seconds % self.bucket_seconds, UTC)

    async def matrix(
        self, origins: Sequence[Point], destinations: Sequence[Point], depart_at: datetime
    ) -> list[list[Leg]]:
        _require_aware(depart_at)
        now = self.clock()
        start = self.bucket(depart_at)
        stamp = int(start.timestamp())
        grid: list[list[Leg | None]] = [[None] * len(destinations) for _ in origins]
        missing: list[tuple[int, int, CacheKey]] = []
        for i, o in enumerate(origins):
            for j, d in enumerate(destinations):
                key = (*_place(o), *_place(d), stamp)
                found = self._entries.get(key)
                if found is not None and now - found[1] < self.ttl:
                    self.hits += 1
                    grid[i][j] = found[0]
                    continue
                self.misses += 1
                missing.append((i, j, key))
        if missing:
            # Distinct places still needed, in request order, first spelling kept.
            rows, cols = {i for i, _, _ in missing}, {j for _, j, _ in missing}
            need_o: dict[tuple[float, float], Point] = {}
            need_d: dict[tuple[float, float], Point] = {}
            for i in sorted(rows):
                need_o.setdefault(_place(origins[i]), origins[i])
            for j in sorted(cols):
                need_d.setdefault(_place(destinations[j]), destinations[j])
            fresh = await self._ask(list(need_o.values()), list(need_d.values()), start, now)
            if fresh is not None:
                for i, j, key in missing:
                    grid[i][j] = fresh[key[:2]][key[2:4]]
            else:
                stand_in = await self.fallback.matrix(origins, destinations, depart_at)
                for i, j, _ in missing:
                    self.fallbacks += 1
                    grid[i][j] = dataclasses.replace(stand_in[i][j], approximate=True)
        return [[leg for leg in row if leg is not None] for row in grid]

    async def _ask(
        self, origins: list[Point], destinations: list[Point], start: datetime, now: datetime
    ) -> dict[tuple[float, float], dict[tuple[float, float], Leg]] | None:
        """Fresh legs by place from ``inner`` (and cached), or None when it cannot answer."""
        if self._resting_until is not None and now < self._resting_until:
            return None
        self.inner_calls += 1
        try:
            with anyio.fail_after(self.timeout_seconds):
                rows = await self.inner.matrix(origins, destinations, start)
            if len(rows) != len(origins) or any(len(r) != len(destinations) for r in rows):
                raise TravelError(f"{self.inner.name}: answer has the wrong shape")
        except (TravelError, TimeoutError) as exc:
            log.warning("travel provider %s failed, using the estimate: %s", self.inner.name, exc)
            self._resting_until = now + self.retry_after
            return None
        except Exception:
            # A bug in a provider must not stop dispatch; travel times are advisory, so fall back
            # and leave the traceback in the log.
            log.exception("travel provider %s crashed, using the estimate", self.inner.name)
            self._resting_until = now + self.retry_after
            return None
        self._resting_until = None
        table: dict[tuple[float, float], dict[tuple[float, float], Leg]] = {}
        stamp = int(start.timestamp())
        for o, row in zip(origins, rows, strict=True):
            for d, leg in zip(destinations, row, strict=True):
                table.setdefault(_place(o), {})[_place(d)] = leg
                self._store((*_place(o), *_place(d), stamp), leg, now)
        return table

    def _store(self, key: CacheKey, leg: Leg, now: datetime) -> None:
        if self.ttl <= timedelta(0):
            return
        self._entries[key] = (leg, now)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def make_travel(settings: Settings, client: httpx.AsyncClient, clock: Clock) -> TravelProvider:
    """The provider the settings ask for; real ones behind a cache with the estimate as fallback."""
    estimate = EstimateProvider(settings.tz)
    timeout = settings.travel_timeout_seconds
    inner: TravelProvider
    if settings.travel_provider == "estimate":
        # Already instant and exact for any departure time; a cache would only blur it to buckets.
        return estimate
    if settings.travel_provider == "osrm":
        inner = OsrmProvider(settings.osrm_url, client, timeout)
    else:
        if not settings.google_maps_api_key:
            raise ValueError(
                "ROUTEBOARD_GOOGLE_MAPS_API_KEY is required for travel_provider=google"
            )
        inner = GoogleProvider(
            settings.google_maps_api_key, settings.google_maps_url, client, timeout, clock=clock
        )
    return CachedTravel(
        inner,
        estimate,
        ttl_seconds=settings.travel_cache_seconds,
        clock=clock,
        timeout_seconds=timeout,
    )
