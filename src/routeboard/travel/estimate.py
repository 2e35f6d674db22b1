"""Offline drive-time estimate between two points: the default provider and every fallback.

Pure and deterministic: no I/O, no clock. It answers in microseconds, so scheduling can always run,
and it is what the real providers fall back to when they are slow or down.

The model, for a departure at local wall-clock time ``t``::

    road_m  = haversine(origin, destination) * CIRCUITY
    drive   = Σ over SPEED_BANDS of (metres of road_m inside the band) / band speed
    minutes = 0                                           if road_m == 0
            = OVERHEAD_MINUTES + drive * congestion(t)    otherwise

Why each piece, and each constant:

- **Great circle × circuity.** Haversine on a sphere of ``EARTH_RADIUS_M`` (6,371,008.8 m, the
  IUGG mean radius; the spherical error, under 0.5 %, is far below the model's own). Roads are
  longer than the straight line: ``CIRCUITY`` = 1.2 is the road/straight ratio Ballou et al.
  (2002) measured for the United States, and it suits Dallas–Fort Worth, where section-line
  arterials and radial freeways (US-75, I-635, the Tollway, SH-121) keep detours modest.
- **Speed by distance band, applied to the metres inside each band** (like income-tax brackets),
  so the time grows continuously and never falls as a trip gets longer — a single speed picked by
  total distance would make a 5.1 km trip quicker than a 4.9 km one. The speeds are for light
  daytime traffic:

  ======================  ==========  ===================================================
  road metres             km/h        why
  ======================  ==========  ===================================================
  first 1,000             30          out of a driveway or lot, neighbourhood streets,
                                      stop signs and the turn onto an arterial
  1,000 – 5,000           60          40–45 mph section-line arterials (Preston, Coit,
                                      Custer) with a signal every mile or so
  beyond 5,000            100         the freeway/tollway share of a longer trip: posted
                                      65–70 mph, less merges, ramps and interchanges
  ======================  ==========  ===================================================

- **Fixed overhead**, ``OVERHEAD_MINUTES`` = 2, for any trip that moves at all: stowing tools and
  pulling out at one end, finding the spot and walking up at the other. It is not scaled by
  traffic. Identical points cost nothing — the technician is already there.
- **Congestion by local time of day** multiplies the drive (not the overhead). Values are piecewise
  linear between the hourly anchors below, so a departure at 08:59 and one at 09:01 differ by a
  hair instead of jumping. The anchors are set by hand to the familiar shape of a DFW weekday —
  a morning peak around 07:00–08:00, a moderate midday with a lunch bump, the worst peak around
  17:00, light nights — and tuned together with the band speeds so that the calibration trips
  below land on target. Weekends (Saturday and Sunday alike) have no commute peaks, only a midday
  shopping bump. Public holidays are not modelled; they look like weekdays here.

  ==========  =====================================================================
  weekday     00–05 0.85 · 06 1.00 · 07 1.30 · 08 1.35 · 09 1.15 · 10 1.05 ·
              12 1.10 · 14 1.05 · 15 1.15 (school let-out) · 16 1.30 · 17 1.45 ·
              18 1.30 · 19 1.10 · 21 0.95 · 24 0.85
  weekend     00–07 0.85 · 10 0.95 · 12–16 1.05 · 19 0.95 · 24 0.85
  ==========  =====================================================================

  0.85 at night is below 1.0 because the band speeds are for light *daytime* traffic: at 02:00
  signals are green and freeways run at or above the limit.

Calibration (weekday 09:00, America/Chicago; the checks live in the tests):

- McKinney (33.1972, -96.6398) → Mesquite (32.7668, -96.5992): 48.0 km straight, 57.6 km road,
  **45.2 min** (target 40–50, aiming at 45).
- Plano (33.0198, -96.6989) → Frisco (33.1507, -96.8236): 18.6 km straight, 22.3 km road,
  **20.9 min** (target 15–25, aiming at 20).
- The McKinney → Mesquite trip is 36.4 min on a Sunday at 09:00, 33.9 min at 02:00 and
  56.5 min in the 17:00 weekday peak.

The estimate is the model, not a degraded answer, so its legs say ``approximate=False`` and
``source="estimate"``; "approximate" is reserved for a fallback standing in for a failed provider.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

EARTH_RADIUS_M = 6_371_008.8
CIRCUITY = 1.2
OVERHEAD_MINUTES = 2.0
# (end of band in road metres, speed in km/h); the last band is open-ended.
SPEED_BANDS: tuple[tuple[float, float], ...] = (
    (1_000.0, 30.0),
    (5_000.0, 60.0),
    (math.inf, 100.0),
)
# (local hour, factor); interpolated linearly, first anchor at 0 and last at 24.
WEEKDAY_CONGESTION: tuple[tuple[float, float], ...] = (
    (0, 0.85),
    (5, 0.85),
    (6, 1.00),
    (7, 1.30),
    (8, 1.35),
    (9, 1.15),
    (10, 1.05),
    (12, 1.10),
    (14, 1.05),
    (15, 1.15),
    (16, 1.30),
    (17, 1.45),
    (18, 1.30),
    (19, 1.10),
    (21, 0.95),
    (24, 0.85),
)
WEEKEND_CONGESTION: tuple[tuple[float, float], ...] = (
    (0, 0.85),
    (7, 0.85),
    (10, 0.95),
    (12, 1.05),
    (16, 1.05),
    (19, 0.95),
    (24, 0.85),
)
SOURCE = "estimate"


@dataclass(frozen=True)
class Point:
    """A WGS84 position in decimal degrees."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        # Swapped lat/lon is the classic mistake (DFW's longitude, -96.7, is no latitude); catch it
        # here rather than let it become a plausible-looking wrong travel time.
        if not (math.isfinite(self.lat) and -90.0 <= self.lat <= 90.0):
            raise ValueError(f"latitude out of range: {self.lat!r}")
        if not (math.isfinite(self.lon) and -180.0 <= self.lon <= 180.0):
            raise ValueError(f"longitude out of range: {self.lon!r}")


@dataclass(frozen=True)
class Leg:
    """One drive: how long, how far, whether it is a stand-in, and who answered."""

    minutes: float
    meters: float
    approximate: bool
    source: str


def great_circle_meters(a: Point, b: Point) -> float:
    """Haversine distance on the mean-radius sphere."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi = phi2 - phi1
    dlambda = math.radians(b.lon - a.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    # Rounding can push h a hair above 1 for antipodes; asin would then raise.
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def drive_minutes(road_meters: float) -> float:
    """Light-traffic minutes for a road distance, band by band."""
    minutes = 0.0
    start = 0.0
    for end, kmh in SPEED_BANDS:
        inside = min(road_meters, end) - start
        if inside <= 0:
            break
        minutes += inside / (kmh * 1000.0 / 60.0)
        start = end
    return minutes


def _interpolate(anchors: Sequence[tuple[float, float]], hour: float) -> float:
    for (h0, f0), (h1, f1) in itertools.pairwise(anchors):
        if h0 <= hour <= h1:
            return f0 + (f1 - f0) * (hour - h0) / (h1 - h0)
    return anchors[-1][1]


def congestion(depart_local: datetime) -> float:
    """The traffic multiplier for a departure at this local wall-clock time."""
    hour = depart_local.hour + depart_local.minute / 60 + depart_local.second / 3600
    anchors = WEEKEND_CONGESTION if depart_local.weekday() >= 5 else WEEKDAY_CONGESTION
    return _interpolate(anchors, hour)


def estimate(origin: Point, destination: Point, depart_local: datetime) -> Leg:
    """The modelled drive from ``origin`` to ``destination`` leaving at local ``depart_local``."""
    road = great_circle_meters(origin, destination) * CIRCUITY
    if road == 0.0:
        return Leg(0.0, 0.0, approximate=False, source=SOURCE)
    minutes = OVERHEAD_MINUTES + drive_minutes(road) * congestion(depart_local)
    return Leg(minutes, road, approximate=False, source=SOURCE)


def estimate_matrix(
    origins: Sequence[Point], destinations: Sequence[Point], depart_local: datetime
) -> list[list[Leg]]:
    """Rows are origins, columns destinations, all leaving at ``depart_local``."""
    return [[estimate(o, d, depart_local) for d in destinations] for o in origins]
