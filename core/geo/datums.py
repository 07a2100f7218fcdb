"""China's shifted datums (GCJ-02 and Baidu's BD-09), where they apply, and distances.

The core stores WGS-84; map providers in mainland China speak GCJ-02 (AMap, Tencent) or
BD-09 (Baidu), and :func:`convert` moves a :class:`~regiocrm.interfaces.maps.Point` between them at
the provider boundary.

GCJ-02 is the state-mandated obfuscation of WGS-84. It is defined only for mainland
China: Hong Kong, Macau, Taiwan and every other country publish WGS-84, so there the
GCJ-02 degrees *are* the WGS-84 degrees. Every common library decides "in China" with
the rectangle lon 72.004-137.8347, lat 0.8293-55.8271, which also holds Seoul, Busan,
Taipei, Hong Kong and western Japan and so shifts them by several hundred metres;
:func:`in_mainland_china` uses a boundary polygon instead.

BD-09 is Baidu's closed-form distortion of GCJ-02, applied here everywhere, so that a
BD-09 point always means "Baidu's formula applied to the GCJ-02 point" and every
conversion can be undone. Baidu's SDK documentation (seen quoted, not on Baidu's own
site) says that outside China, where Hong Kong, Macau and Taiwan count as inside, its
maps take and return WGS-84 without the offset: a Baidu provider asked about such a
point should send WGS-84, not BD-09.

Neither shift has a closed-form inverse. The usual one-step approximation
(``wgs ≈ gcj - (f(gcj) - gcj)``) is off by up to about 1e-5 degrees (a metre); the
inverses here iterate the forward transform to below 1e-10 degrees instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import pairwise

from regiocrm.interfaces.maps import Datum, Point

LatLon = tuple[float, float]


class NoEquivalent(ValueError):
    """A point that has no equivalent in the datum asked for (one whose offset carries it
    past a pole or the antimeridian)."""


# The Krasovsky 1940 ellipsoid the GCJ-02 formula is written against (f = 1/298.3).
KRASOVSKY_A = 6378245.0
KRASOVSKY_EE = 0.00669342162296594323
# Baidu's constant: an angle scale of 3000 degrees per degree, in radians.
BAIDU_X_PI = math.pi * 3000.0 / 180.0
BAIDU_DLAT = 0.006
BAIDU_DLON = 0.0065
# IUGG mean radius R1; the spherical error against the ellipsoid is at most about 0.5 %.
EARTH_RADIUS_KM = 6371.0088

# A step below this (in degrees, ~10 µm) means the inverse has converged. Each step of
# the fixed-point iteration shrinks the error about a thousandfold (see _invert), so
# 3-4 steps suffice and MAX_ITERATIONS is a guard that is never reached in practice.
TOLERANCE = 1e-10
MAX_ITERATIONS = 20

# Mainland China as (lat, lon) rings, traced by hand from memory of the land borders and
# kept offshore along the coast; Hainan is inside the ring. Along land borders a vertex
# is within a few kilometres of the true line, so a point within ~5 km of a border may
# fall on either side (Heihe/Blagoveshchensk, Dandong/Sinuiju, Ruili/Muse sit across
# narrow rivers). Disputed areas follow the lines of actual control (Aksai Chin in,
# Arunachal Pradesh out). The South China Sea islands are left out.
_MAINLAND: tuple[LatLon, ...] = (
    # The Russian border along the Amur and the Ussuri, from the Argun confluence east.
    (53.33, 121.45),
    (53.57, 123.30),
    (53.10, 125.60),
    (52.20, 126.60),
    (50.75, 127.30),
    (50.25, 127.515),
    (49.50, 128.90),
    (48.90, 130.55),
    (48.00, 130.95),
    (47.70, 132.60),
    (48.15, 133.60),
    (48.45, 134.30),
    (48.40, 134.75),
    (47.70, 134.75),
    (46.70, 134.00),
    (45.30, 133.10),
    (45.05, 131.90),
    (44.40, 131.25),
    (43.40, 131.25),
    (42.90, 131.10),
    (42.40, 130.65),
    # North Korea along the Tumen and the Yalu.
    (42.85, 130.25),
    (42.95, 129.80),
    (42.40, 128.95),
    (41.98, 128.05),
    (41.45, 128.20),
    (41.10, 126.40),
    (40.50, 124.95),
    (40.10, 124.40),
    (39.80, 124.10),
    # The Yellow Sea and East China Sea, offshore.
    (38.80, 123.20),
    (37.40, 123.00),
    (36.00, 121.30),
    (34.50, 120.80),
    (32.00, 122.20),
    (30.70, 123.00),
    (29.00, 122.60),
    (27.30, 121.20),
    # The Taiwan Strait, west of Matsu, Penghu and Taiwan; Kinmen is cut out below.
    (26.45, 120.05),
    (26.32, 119.93),
    (26.00, 119.78),
    (25.45, 119.90),
    (24.80, 119.05),
    (24.10, 118.20),
    (23.40, 117.45),
    (22.60, 116.00),
    # The South China Sea; Hong Kong and Macau are cut out below.
    (22.10, 114.60),
    (21.70, 113.50),
    (21.30, 111.80),
    (20.60, 111.10),
    (19.50, 111.20),
    (18.50, 110.60),
    (18.05, 109.60),
    (18.40, 108.50),
    (19.40, 108.45),
    (20.40, 109.30),
    (21.30, 108.40),
    # Vietnam, Laos and Myanmar.
    (21.55, 108.00),
    (21.75, 107.35),
    (21.98, 106.70),
    (22.85, 106.55),
    (22.95, 105.50),
    (23.40, 105.30),
    (22.95, 104.50),
    (22.52, 103.95),
    (22.80, 103.40),
    (22.40, 102.15),
    (21.60, 101.75),
    (21.15, 101.70),
    (21.15, 101.15),
    (21.60, 100.20),
    (22.15, 99.45),
    (22.75, 99.40),
    (23.10, 99.05),
    (23.70, 98.88),
    (24.05, 98.55),
    (24.05, 98.05),
    (23.95, 97.60),
    (24.80, 97.60),
    (25.60, 98.20),
    (26.60, 98.70),
    (27.60, 98.65),
    (28.25, 97.40),
    # Arunachal Pradesh (the McMahon line), Bhutan, Sikkim and Nepal.
    (28.45, 96.30),
    (29.30, 95.10),
    (29.25, 94.40),
    (28.60, 93.30),
    (27.80, 92.00),
    (27.90, 91.70),
    (28.25, 90.35),
    (27.75, 89.20),
    (27.25, 89.05),
    (27.35, 88.83),
    (27.90, 88.80),
    (28.05, 88.05),
    (27.90, 87.95),
    (27.95, 86.95),
    (28.05, 86.40),
    (27.93, 85.96),
    (28.25, 85.70),
    (28.50, 84.90),
    (29.35, 84.05),
    (29.45, 82.40),
    (30.15, 81.35),
    (30.25, 81.05),
    # India (the line of actual control), Pakistan and Tajikistan.
    (30.95, 79.40),
    (31.80, 78.80),
    (32.65, 79.45),
    (33.60, 78.85),
    (34.70, 78.30),
    (35.50, 77.80),
    (35.90, 76.50),
    (36.85, 75.40),
    (37.15, 74.85),
    (38.00, 74.80),
    (38.60, 73.90),
    (39.40, 73.55),
    # Kyrgyzstan and Kazakhstan.
    (39.70, 73.85),
    (40.25, 74.80),
    (40.55, 75.45),
    (40.90, 76.60),
    (41.40, 78.20),
    (42.20, 80.20),
    (43.00, 80.45),
    (44.20, 80.30),
    (44.90, 80.30),
    (45.20, 82.45),
    (46.00, 82.40),
    (46.80, 82.70),
    (47.20, 83.10),
    (47.00, 85.30),
    (47.50, 85.65),
    (48.40, 85.80),
    (49.10, 87.30),
    # Mongolia.
    (49.15, 87.85),
    (48.00, 89.50),
    (47.20, 90.50),
    (46.00, 91.00),
    (45.10, 90.80),
    (44.40, 93.50),
    (42.75, 96.40),
    (42.70, 100.50),
    (41.60, 105.00),
    (42.40, 107.50),
    (42.40, 110.00),
    (43.65, 111.90),
    (44.90, 113.60),
    (45.40, 116.00),
    (46.30, 117.40),
    (46.60, 119.90),
    (47.20, 119.70),
    (47.70, 118.40),
    (47.90, 117.80),
    (47.70, 115.60),
    (49.85, 116.70),
    # Russia along the Argun.
    (49.60, 117.80),
    (50.20, 119.20),
    (51.60, 120.10),
    (52.70, 120.70),
)

# Parts of the ring that are not mainland China: Hong Kong (its boundary follows the
# Shenzhen River, so Shenzhen's centre is only ~1.5 km north of it), Macau (Hengqin,
# which is Zhuhai, is ~1 km west of Cotai) and Kinmen (Taiwan-held, ~5 km off Xiamen).
_NOT_MAINLAND: tuple[tuple[LatLon, ...], ...] = (
    (
        (22.10, 113.82),
        (22.38, 113.82),
        (22.44, 113.89),
        (22.50, 113.99),
        (22.505, 114.03),
        (22.52, 114.085),
        (22.535, 114.12),
        (22.54, 114.17),
        (22.555, 114.225),
        (22.56, 114.28),
        (22.52, 114.50),
        (22.10, 114.50),
    ),
    (
        (22.10, 113.545),
        (22.16, 113.54),
        (22.19, 113.525),
        (22.217, 113.528),
        (22.217, 113.556),
        (22.20, 113.60),
        (22.10, 113.60),
    ),
    (
        (24.36, 118.22),
        (24.53, 118.22),
        (24.54, 118.50),
        (24.36, 118.50),
    ),
)


def _inside(lat: float, lon: float, ring: tuple[LatLon, ...]) -> bool:
    """Ray casting: a ray running east from the point crosses the ring an odd number of
    times exactly when the point is inside."""
    inside = False
    for (lat1, lon1), (lat2, lon2) in pairwise((*ring, ring[0])):
        if (lat1 > lat) != (lat2 > lat):
            crossing = lon1 + (lat - lat1) * (lon2 - lon1) / (lat2 - lat1)
            if lon < crossing:
                inside = not inside
    return inside


def in_mainland_china(lat: float, lon: float) -> bool:
    """Whether GCJ-02 applies at a point: mainland China, without Hong Kong, Macau or
    Taiwan (Kinmen included), as traced by a hand-made polygon.

    The polygon is coarse: points within about 5 km of a land border, or of the Hong
    Kong or Macau boundary, may fall on either side. Matsu, Penghu, Taiwan, the Korean
    peninsula and Japan are well outside it.
    """
    return _inside(lat, lon, _MAINLAND) and not any(
        _inside(lat, lon, ring) for ring in _NOT_MAINLAND
    )


def _gcj02_shift(lat: float, lon: float) -> LatLon:
    """The published WGS-84 → GCJ-02 formula, applied wherever it is asked to be.

    The distortion is written in metres on the Krasovsky ellipsoid and turned into
    degrees with the lengths of a degree of latitude and of longitude there.
    """
    x, y = lon - 105.0, lat - 35.0
    waves = (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    d_lat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * math.sqrt(abs(x))
        + waves
        + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
        + (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y / 30.0 * math.pi)) * 2.0 / 3.0
    )
    d_lon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * math.sqrt(abs(x))
        + waves
        + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
        + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    )
    phi = math.radians(lat)
    m = 1.0 - KRASOVSKY_EE * math.sin(phi) ** 2
    metres_per_degree_lat = math.pi * KRASOVSKY_A * (1.0 - KRASOVSKY_EE) / (m * math.sqrt(m)) / 180
    metres_per_degree_lon = math.pi * KRASOVSKY_A / math.sqrt(m) * math.cos(phi) / 180
    return lat + d_lat / metres_per_degree_lat, lon + d_lon / metres_per_degree_lon


def _invert(forward: Callable[[float, float], LatLon], lat: float, lon: float) -> LatLon:
    """The point that ``forward`` maps to ``(lat, lon)``, by fixed-point iteration.

    Both shifts are the identity plus a distortion whose derivatives are of order 1e-3,
    so subtracting the remaining error ``forward(guess) - target`` from the guess divides
    that error by about a thousand at each step.

    :raises ArithmeticError: if ``forward`` is not such a map and the steps do not shrink
        below :data:`TOLERANCE` within :data:`MAX_ITERATIONS`.
    """
    guess_lat, guess_lon = lat, lon
    for _ in range(MAX_ITERATIONS):
        mapped_lat, mapped_lon = forward(guess_lat, guess_lon)
        step_lat, step_lon = mapped_lat - lat, mapped_lon - lon
        guess_lat, guess_lon = guess_lat - step_lat, guess_lon - step_lon
        if abs(step_lat) < TOLERANCE and abs(step_lon) < TOLERANCE:
            return guess_lat, guess_lon
    raise ArithmeticError(f"no convergence inverting at ({lat}, {lon})")


def wgs84_to_gcj02(lat: float, lon: float) -> LatLon:
    """GCJ-02 degrees of a WGS-84 point: shifted in mainland China, unchanged elsewhere."""
    if not in_mainland_china(lat, lon):
        return lat, lon
    return _gcj02_shift(lat, lon)


def gcj02_to_wgs84(lat: float, lon: float) -> LatLon:
    """WGS-84 degrees of a GCJ-02 point, inverting the shift by iteration.

    Whether the shift applies is decided on the GCJ-02 point as given, so a point that
    the shift (up to ~700 m) carries across the polygon's boundary does not come back;
    that strip is narrower than the polygon's own precision.
    """
    if not in_mainland_china(lat, lon):
        return lat, lon
    return _invert(_gcj02_shift, lat, lon)


def gcj02_to_bd09(lat: float, lon: float) -> LatLon:
    """Baidu's BD-09 degrees of a GCJ-02 point: a small twist and stretch about (0, 0)
    in polar form, then a fixed offset of (0.006, 0.0065) degrees."""
    radius = math.hypot(lon, lat) + 0.00002 * math.sin(lat * BAIDU_X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * BAIDU_X_PI)
    return radius * math.sin(theta) + BAIDU_DLAT, radius * math.cos(theta) + BAIDU_DLON


def bd09_to_gcj02(lat: float, lon: float) -> LatLon:
    """GCJ-02 degrees of a BD-09 point, inverting Baidu's formula by iteration (Baidu's
    own sign-flipped inverse is only good to about 1e-6 degrees)."""
    return _invert(gcj02_to_bd09, lat, lon)


def wgs84_to_bd09(lat: float, lon: float) -> LatLon:
    """BD-09 degrees of a WGS-84 point, through GCJ-02."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lat, lon))


def bd09_to_wgs84(lat: float, lon: float) -> LatLon:
    """WGS-84 degrees of a BD-09 point, through GCJ-02."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lat, lon))


def _unchanged(lat: float, lon: float) -> LatLon:
    return lat, lon


# Every conversion goes through GCJ-02, which BD-09 is defined on and WGS-84 is shifted to.
_TO_GCJ02: dict[Datum, Callable[[float, float], LatLon]] = {
    Datum.WGS84: wgs84_to_gcj02,
    Datum.GCJ02: _unchanged,
    Datum.BD09: bd09_to_gcj02,
}
_FROM_GCJ02: dict[Datum, Callable[[float, float], LatLon]] = {
    Datum.WGS84: gcj02_to_wgs84,
    Datum.GCJ02: _unchanged,
    Datum.BD09: gcj02_to_bd09,
}


def convert(point: Point, to: Datum) -> Point:
    """The same place in another datum (outside mainland China, GCJ-02 is WGS-84).

    :raises NoEquivalent: when Baidu's offset carries the point past a pole or the
        antimeridian (BD-09 is meaningless there, and the point would be invalid).
    """
    if point.datum is to:
        return point
    lat, lon = _FROM_GCJ02[to](*_TO_GCJ02[point.datum](point.lat, point.lon))
    try:
        return Point(lat, lon, to)
    except ValueError as exc:
        raise NoEquivalent(
            f"({point.lat}, {point.lon}) in {point.datum} has no {to} equivalent: {exc}"
        ) from None


def great_circle_km(a: Point, b: Point) -> float:
    """The great-circle distance in kilometres, by the haversine formula on a sphere.

    :raises ValueError: when the points are in different datums: their degrees differ by
        up to a kilometre for the same place, so the distance would be wrong by as much.
    """
    if a.datum is not b.datum:
        raise ValueError(f"points in different datums ({a.datum}, {b.datum}): convert one")
    phi_a, phi_b = math.radians(a.lat), math.radians(b.lat)
    haversine = (
        math.sin((phi_b - phi_a) / 2) ** 2
        + math.cos(phi_a) * math.cos(phi_b) * math.sin(math.radians(b.lon - a.lon) / 2) ** 2
    )
    # min(): rounding can push an antipodal pair's haversine a hair above 1.
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(haversine)))
