"""Local stand-ins for OSRM and Google Distance Matrix, speaking their real HTTP formats.

Each runs a real HTTP server on 127.0.0.1 (a random free port) in a thread, records every request,
validates it the way the real service does (and answers with the real error when it is wrong), and
computes answers from the coordinates so tests can tell rows and columns apart. A test can replace
the answer wholesale (``server.override``) or slow the server down (``server.delay``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from routeboard.travel.estimate import Point, great_circle_meters
from tests.fakeserver import LocalServer, respond

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # a Tuesday, 09:00 in Dallas


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Seen:
    """One request as it arrived: the raw target, the decoded path and the query."""

    target: str
    path: str
    query: dict[str, str]


# (HTTP status, body): a dict/list is sent as JSON, bytes verbatim.
Reply = tuple[int, Any]
Handler = Callable[[Seen], Reply]


class FakeServer(LocalServer):
    def __init__(self, handler: Handler) -> None:
        super().__init__()
        self.handler = handler
        self.override: Handler | None = None
        self.requests: list[Seen] = []
        server = self

        class Handle(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                seen = Seen(target=self.path, path=unquote(parts.path), query=query)
                server.requests.append(seen)
                if server.held_back():
                    return  # shutting down: the client gave up long ago
                status, body = (server.override or server.handler)(seen)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                respond(self, status, data, {"Content-Type": "application/json; charset=UTF-8"})

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.serve(Handle)


def _osrm_error(code: str, message: str) -> Reply:
    return 400, {"code": code, "message": message}


def _waypoint(p: Point) -> dict[str, Any]:
    return {"hint": "AAAA", "distance": 0.0, "name": "", "location": [p.lon, p.lat]}


def _indices(value: str, size: int) -> list[int] | None:
    if value == "all":
        return list(range(size))
    try:
        picked = [int(v) for v in value.split(";")]
    except ValueError:
        return None
    return picked if all(0 <= i < size for i in picked) else None


@dataclass
class FakeOsrm:
    """``GET /table/v1/driving/{lon},{lat};...`` as osrm-routed answers it.

    Durations are great-circle metres / 20 m/s and distances great-circle × 1.3, so every cell
    differs; ``unroutable`` lists (source, destination) coordinate indices answered with null.
    """

    unroutable: set[tuple[int, int]] = field(default_factory=set)

    def __call__(self, seen: Seen) -> Reply:
        prefix = "/table/v1/driving/"
        if not seen.path.startswith(prefix):
            return _osrm_error("InvalidService", "Service is not table")
        points: list[Point] = []
        for pair in seen.path[len(prefix) :].split(";"):
            try:
                lon, lat = (float(v) for v in pair.split(","))
                points.append(Point(lat, lon))
            except ValueError:
                return _osrm_error("InvalidQuery", "Query string malformed close to position 0")
        sources = _indices(seen.query.get("sources", "all"), len(points))
        targets = _indices(seen.query.get("destinations", "all"), len(points))
        if sources is None or targets is None:
            return _osrm_error("InvalidOptions", "Sources or destinations indices are invalid")
        wanted = seen.query.get("annotations", "duration").split(",")
        body: dict[str, Any] = {
            "code": "Ok",
            "sources": [_waypoint(points[i]) for i in sources],
            "destinations": [_waypoint(points[j]) for j in targets],
        }
        if "duration" in wanted:
            body["durations"] = [
                [
                    None
                    if (i, j) in self.unroutable
                    else great_circle_meters(points[i], points[j]) / 20
                    for j in targets
                ]
                for i in sources
            ]
        if "distance" in wanted:
            body["distances"] = [
                [
                    None
                    if (i, j) in self.unroutable
                    else great_circle_meters(points[i], points[j]) * 1.3
                    for j in targets
                ]
                for i in sources
            ]
        return 200, body


def google_top(status: str, message: str | None = None) -> Reply:
    """A top-level failure as Google sends it: HTTP 200, empty rows, a status."""
    body: dict[str, Any] = {
        "destination_addresses": [],
        "origin_addresses": [],
        "rows": [],
        "status": status,
    }
    if message:
        body["error_message"] = message
    return 200, body


def _google_points(value: str) -> list[Point] | None:
    points = []
    for item in value.split("|"):
        try:
            lat, lng = (float(v) for v in item.split(","))
            points.append(Point(lat, lng))
        except ValueError:
            return None
    return points


@dataclass
class FakeGoogle:
    """``GET /maps/api/distancematrix/json`` as Google answers it (driving, with traffic).

    ``duration`` is great-circle metres / 20 m/s, ``duration_in_traffic`` 1.5 times that (left out
    when ``traffic`` is False), ``distance`` great-circle × 1.3. ``element_status`` sets the status
    of single cells. Departure times before ``clock()`` are refused as Google refuses them.
    """

    key: str
    clock: Clock
    traffic: bool = True
    element_status: dict[tuple[int, int], str] = field(default_factory=dict)

    def __call__(self, seen: Seen) -> Reply:
        q = seen.query
        if seen.path != "/maps/api/distancematrix/json":
            return 404, b"<html>Not Found</html>"
        if q.get("key") != self.key:
            return google_top("REQUEST_DENIED", "The provided API key is invalid.")
        origins = _google_points(q.get("origins", ""))
        destinations = _google_points(q.get("destinations", ""))
        if origins is None or destinations is None or q.get("mode") != "driving":
            return google_top("INVALID_REQUEST")
        if len(origins) > 25 or len(destinations) > 25:
            return google_top("MAX_DIMENSIONS_EXCEEDED")
        if len(origins) * len(destinations) > 100:
            return google_top("MAX_ELEMENTS_EXCEEDED")
        departure = q.get("departure_time", "now")
        if departure != "now" and int(departure) < self.clock().timestamp():
            return google_top(
                "INVALID_REQUEST",
                "departure_time is in the past. Traffic information is only available for "
                "future and current times.",
            )
        rows = []
        for i, o in enumerate(origins):
            elements: list[dict[str, Any]] = []
            for j, d in enumerate(destinations):
                status = self.element_status.get((i, j), "OK")
                if status != "OK":
                    elements.append({"status": status})
                    continue
                metres = great_circle_meters(o, d)
                seconds = round(metres / 20)
                element: dict[str, Any] = {
                    "distance": {
                        "text": f"{metres * 1.3 / 1000:.1f} km",
                        "value": round(metres * 1.3),
                    },
                    "duration": {"text": f"{seconds // 60} mins", "value": seconds},
                    "status": "OK",
                }
                if self.traffic:
                    traffic = round(seconds * 1.5)
                    element["duration_in_traffic"] = {
                        "text": f"{traffic // 60} mins",
                        "value": traffic,
                    }
                elements.append(element)
            rows.append({"elements": elements})
        return 200, {
            "destination_addresses": [f"Place {j}, TX, USA" for j in range(len(destinations))],
            "origin_addresses": [f"Place {i}, TX, USA" for i in range(len(origins))],
            "rows": rows,
            "status": "OK",
        }
