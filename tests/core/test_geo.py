"""China's datums, checked against prcoords (an independent implementation) and against
the places where the shift must not apply."""

from __future__ import annotations

import math

import prcoords
import pytest

from regiocrm.geo import datums as geo
from regiocrm.interfaces.maps import Datum, Point

# WGS-84 (lat, lon) of places in mainland China, from the far north-east to the far west
# and south, so that every term of the distortion is exercised.
MAINLAND = {
    "Beijing": (39.9042, 116.4074),
    "Shanghai": (31.2304, 121.4737),
    "Guangzhou": (23.1291, 113.2644),
    "Shenzhen": (22.5431, 114.0579),
    "Chengdu": (30.5728, 104.0668),
    "Urumqi": (43.8256, 87.6168),
    "Lhasa": (29.6500, 91.1000),
    "Harbin": (45.8038, 126.5350),
    "Kunming": (25.0389, 102.7183),
    "Sanya": (18.2528, 109.5119),
    "Xiamen": (24.4798, 118.0894),
}

# Places where GCJ-02 is WGS-84. Every one but Tokyo, Sydney and New York lies inside the
# rectangle (lat 0.8293-55.8271, lon 72.004-137.8347) that libraries use as "China".
NOT_MAINLAND = {
    "Hong Kong": (22.2800, 114.1600),
    "Sheung Shui": (22.5010, 114.1280),
    "Macau": (22.1935, 113.5390),
    "Taipei": (25.0330, 121.5654),
    "Kaohsiung": (22.6273, 120.3014),
    "Kinmen": (24.4300, 118.3200),
    "Seoul": (37.5665, 126.9780),
    "Busan": (35.1796, 129.0756),
    "Tokyo": (35.6762, 139.6503),
    "Fukuoka": (33.5902, 130.4017),
    "Hanoi": (21.0285, 105.8542),
    "Ulaanbaatar": (47.9184, 106.9177),
    "Vladivostok": (43.1198, 131.8869),
    "Pyongyang": (39.0392, 125.7625),
    "Kathmandu": (27.7172, 85.3240),
    "Almaty": (43.2220, 76.8512),
    "Sydney": (-33.8688, 151.2093),
    "New York": (40.7128, -74.0060),
}

AGREEMENT = 1e-6  # degrees, with prcoords
ROUND_TRIP = 1e-7  # degrees


def _naive_box(lat: float, lon: float) -> bool:
    return prcoords.sanity_in_china_p(prcoords.Coords(lat, lon))


def _close(got: tuple[float, float], expected: tuple[float, float], tolerance: float) -> bool:
    return abs(got[0] - expected[0]) <= tolerance and abs(got[1] - expected[1]) <= tolerance


@pytest.mark.parametrize(("lat", "lon"), MAINLAND.values(), ids=MAINLAND.keys())
def test_mainland_points_are_in_mainland_china(lat: float, lon: float) -> None:
    assert geo.in_mainland_china(lat, lon)


@pytest.mark.parametrize(("lat", "lon"), NOT_MAINLAND.values(), ids=NOT_MAINLAND.keys())
def test_other_points_are_not_in_mainland_china(lat: float, lon: float) -> None:
    assert not geo.in_mainland_china(lat, lon)


def test_the_naive_rectangle_would_have_shifted_most_of_them() -> None:
    # The point of the polygon: these are the places the rectangle gets wrong.
    outside_box = {name for name, point in NOT_MAINLAND.items() if not _naive_box(*point)}
    assert outside_box == {"Tokyo", "Sydney", "New York"}


@pytest.mark.parametrize(("lat", "lon"), MAINLAND.values(), ids=MAINLAND.keys())
def test_forward_conversions_agree_with_prcoords(lat: float, lon: float) -> None:
    wgs = prcoords.Coords(lat, lon)
    gcj = prcoords.wgs_gcj(wgs, False)
    bd = prcoords.gcj_bd(gcj)
    assert _close(geo.wgs84_to_gcj02(lat, lon), gcj, AGREEMENT)
    assert _close(geo.gcj02_to_bd09(*gcj), bd, AGREEMENT)
    assert _close(geo.wgs84_to_bd09(lat, lon), bd, AGREEMENT)


@pytest.mark.parametrize(("lat", "lon"), MAINLAND.values(), ids=MAINLAND.keys())
def test_inverse_conversions_agree_with_prcoords(lat: float, lon: float) -> None:
    # prcoords' iterated ("bored") inverses, given prcoords' own forward results.
    gcj = prcoords.wgs_gcj(prcoords.Coords(lat, lon), False)
    bd = prcoords.gcj_bd(gcj)
    assert _close(geo.gcj02_to_wgs84(*gcj), prcoords.gcj_wgs_bored(gcj), AGREEMENT)
    assert _close(geo.bd09_to_gcj02(*bd), prcoords.bd_gcj_bored(bd), AGREEMENT)
    assert _close(geo.bd09_to_wgs84(*bd), prcoords.bd_wgs_bored(bd), AGREEMENT)


@pytest.mark.parametrize(("lat", "lon"), MAINLAND.values(), ids=MAINLAND.keys())
def test_round_trips_return_the_point(lat: float, lon: float) -> None:
    assert _close(geo.gcj02_to_wgs84(*geo.wgs84_to_gcj02(lat, lon)), (lat, lon), ROUND_TRIP)
    assert _close(geo.bd09_to_wgs84(*geo.wgs84_to_bd09(lat, lon)), (lat, lon), ROUND_TRIP)
    assert _close(geo.bd09_to_gcj02(*geo.gcj02_to_bd09(lat, lon)), (lat, lon), ROUND_TRIP)


def test_the_one_step_inverse_would_not_be_good_enough() -> None:
    # Harbin: the rough inverse (gcj - (f(gcj) - gcj)) misses by ~2e-5 degrees, so the
    # round-trip tolerance above does measure the iteration.
    lat, lon = MAINLAND["Harbin"]
    rough = prcoords.gcj_wgs(prcoords.Coords(*geo.wgs84_to_gcj02(lat, lon)), False)
    assert not _close(rough, (lat, lon), ROUND_TRIP)


def test_reference_vectors() -> None:
    # Tiananmen, as published in REFERENCE.md 5.1 (eviltransform and prcoords agree).
    assert _close(geo.wgs84_to_gcj02(39.908722, 116.397499), (39.9101255, 116.4037426), 1e-7)
    assert _close(geo.wgs84_to_bd09(39.908722, 116.397499), (39.9164647, 116.4101156), 1e-7)


def test_shanghai_is_shifted_by_several_hundred_metres() -> None:
    start = Point(*MAINLAND["Shanghai"])
    shifted = geo.convert(start, Datum.GCJ02)
    # Distances within one datum: compare the shifted degrees as if they were WGS-84.
    metres = geo.great_circle_km(start, Point(shifted.lat, shifted.lon)) * 1000
    assert 300 < metres < 700


@pytest.mark.parametrize(("lat", "lon"), NOT_MAINLAND.values(), ids=NOT_MAINLAND.keys())
def test_gcj02_passes_through_outside_mainland_china(lat: float, lon: float) -> None:
    assert geo.wgs84_to_gcj02(lat, lon) == (lat, lon)
    assert geo.gcj02_to_wgs84(lat, lon) == (lat, lon)
    assert geo.convert(Point(lat, lon), Datum.GCJ02) == Point(lat, lon, Datum.GCJ02)
    assert geo.convert(Point(lat, lon, Datum.GCJ02), Datum.WGS84) == Point(lat, lon)


@pytest.mark.parametrize(("lat", "lon"), NOT_MAINLAND.values(), ids=NOT_MAINLAND.keys())
def test_bd09_outside_mainland_china_is_baidus_offset_of_wgs84(lat: float, lon: float) -> None:
    bd = geo.convert(Point(lat, lon), Datum.BD09)
    assert _close((bd.lat, bd.lon), prcoords.gcj_bd(prcoords.Coords(lat, lon)), AGREEMENT)
    back = geo.convert(bd, Datum.WGS84)
    assert _close((back.lat, back.lon), (lat, lon), ROUND_TRIP)


@pytest.mark.parametrize("source", list(Datum))
@pytest.mark.parametrize("target", list(Datum))
def test_convert_between_every_pair_of_datums(source: Datum, target: Datum) -> None:
    lat, lon = MAINLAND["Chengdu"]
    by_datum = {
        Datum.WGS84: (lat, lon),
        Datum.GCJ02: tuple(prcoords.wgs_gcj(prcoords.Coords(lat, lon), False)),
        Datum.BD09: tuple(prcoords.wgs_bd(prcoords.Coords(lat, lon), False)),
    }
    result = geo.convert(Point(*by_datum[source], source), target)
    assert result.datum is target
    assert _close((result.lat, result.lon), by_datum[target], AGREEMENT)


def test_converting_to_the_same_datum_returns_the_point() -> None:
    point = Point(*MAINLAND["Beijing"], Datum.BD09)
    assert geo.convert(point, Datum.BD09) is point


@pytest.mark.parametrize(("lat", "lon"), [(89.999, 0.0), (0.0, 179.999)])
def test_baidus_offset_past_a_pole_or_the_antimeridian_is_an_error(lat: float, lon: float) -> None:
    with pytest.raises(ValueError, match="has no bd09 equivalent"):
        geo.convert(Point(lat, lon), Datum.BD09)


def test_an_inverse_that_does_not_converge_stops() -> None:
    def flip(lat: float, lon: float) -> tuple[float, float]:
        return 2 * lat, 2 * lon  # the fixed-point step only oscillates around this

    with pytest.raises(ArithmeticError, match="no convergence"):
        geo._invert(flip, 1.0, 1.0)


def test_great_circle_from_shanghai_to_beijing() -> None:
    shanghai, beijing = Point(*MAINLAND["Shanghai"]), Point(*MAINLAND["Beijing"])
    assert geo.great_circle_km(shanghai, beijing) == pytest.approx(1067, abs=5)
    assert geo.great_circle_km(beijing, shanghai) == geo.great_circle_km(shanghai, beijing)
    assert geo.great_circle_km(shanghai, shanghai) == 0


def test_great_circle_of_antipodes_is_half_the_circumference() -> None:
    half = geo.great_circle_km(Point(30.0, 120.0), Point(-30.0, -60.0))
    assert half == pytest.approx(math.pi * 6371.0088)  # the IUGG mean radius


def test_great_circle_refuses_points_in_different_datums() -> None:
    wgs = Point(*MAINLAND["Shanghai"])
    with pytest.raises(ValueError, match="different datums"):
        geo.great_circle_km(wgs, geo.convert(wgs, Datum.GCJ02))


@pytest.mark.parametrize(
    ("lat", "lon", "message"),
    [
        (90.5, 0.0, "latitude 90.5 is outside -90..90"),
        (-91.0, 0.0, "latitude -91.0 is outside -90..90"),
        (math.nan, 0.0, "latitude nan is outside"),
        (0.0, 180.5, "longitude 180.5 is outside -180..180"),
        (0.0, -math.inf, "longitude -inf is outside"),
    ],
)
def test_point_validation(lat: float, lon: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Point(lat, lon)
