"""``regiocrm maps convert``, its values checked against prcoords rather than
regiocrm.geo.datums."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable

import pluggy
import prcoords
import pytest

from regiocrm.testing import CliResult

SHANGHAI = prcoords.Coords(31.2304, 121.4737)


@pytest.fixture
def maps_cli(
    regiocrm_cli: Callable[..., CliResult],
    register_plugin: Callable[..., str],
    plugin_manager: pluggy.PluginManager,
) -> Callable[..., CliResult]:
    """``regiocrm`` with the maps commands, whether or not they are built in yet."""
    module = importlib.import_module("regiocrm.cli.maps")
    if not plugin_manager.is_registered(module):
        register_plugin(module)
    return regiocrm_cli


def test_maps_is_a_command_group(maps_cli: Callable[..., CliResult]) -> None:
    result = maps_cli("--help")
    assert result.exit_code == 0
    assert "maps" in result.stdout


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("wgs84", "gcj02", prcoords.wgs_gcj(SHANGHAI, False)),
        ("wgs84", "bd09", prcoords.wgs_bd(SHANGHAI, False)),
        ("bd09", "wgs84", prcoords.bd_wgs_bored(prcoords.wgs_bd(SHANGHAI, False))),
    ],
)
def test_convert_json(
    maps_cli: Callable[..., CliResult], source: str, target: str, expected: prcoords.Coords
) -> None:
    given = SHANGHAI if source == "wgs84" else prcoords.wgs_bd(SHANGHAI, False)
    result = maps_cli(
        "maps",
        "convert",
        str(given.lat),
        str(given.lon),
        "--from",
        source,
        "--to",
        target,
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"lat", "lon", "datum"}
    assert data["datum"] == target
    assert data["lat"] == pytest.approx(expected.lat, abs=1e-6)
    assert data["lon"] == pytest.approx(expected.lon, abs=1e-6)


def test_convert_prints_one_line(maps_cli: Callable[..., CliResult]) -> None:
    result = maps_cli("maps", "convert", "31.2304", "121.4737", "--from", "wgs84", "--to", "gcj02")
    assert result.exit_code == 0, result.stderr
    expected = prcoords.wgs_gcj(SHANGHAI, False)
    assert result.stdout == f"{expected.lat:.7f}, {expected.lon:.7f} (gcj02)\n"


def test_convert_takes_negative_coordinates_and_any_case(
    maps_cli: Callable[..., CliResult],
) -> None:
    # New York is no mainland China: GCJ-02 is WGS-84 there.
    result = maps_cli("maps", "convert", "40.7128", "-74.006", "--from", "WGS84", "--to", "GCJ02")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "40.7128000, -74.0060000 (gcj02)\n"


def test_convert_to_the_same_datum(maps_cli: Callable[..., CliResult]) -> None:
    result = maps_cli(
        "maps", "convert", "31.2304", "121.4737", "--from", "bd09", "--to", "bd09", "--json"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"lat": 31.2304, "lon": 121.4737, "datum": "bd09"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("95", "0"), "latitude must be a number from -90 to 90, not '95'"),
        (("-90.5", "0"), "latitude must be a number from -90 to 90, not '-90.5'"),
        (("north", "0"), "latitude must be a number from -90 to 90, not 'north'"),
        (("nan", "0"), "latitude must be a number from -90 to 90, not 'nan'"),
        (("0", "181"), "longitude must be a number from -180 to 180, not '181'"),
        (("0", "inf"), "longitude must be a number from -180 to 180, not 'inf'"),
        (("0", "1,5"), "longitude must be a number from -180 to 180, not '1,5'"),
    ],
)
def test_bad_coordinates(
    maps_cli: Callable[..., CliResult], args: tuple[str, str], message: str
) -> None:
    result = maps_cli("maps", "convert", *args, "--from", "wgs84", "--to", "gcj02")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {message}\n"
    assert result.stdout == ""


@pytest.mark.parametrize(("option", "other"), [("--from", "--to"), ("--to", "--from")])
def test_unknown_datum(maps_cli: Callable[..., CliResult], option: str, other: str) -> None:
    result = maps_cli("maps", "convert", "31", "121", option, "wgs-84", other, "gcj02")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: unknown datum 'wgs-84' for {option}: use one of wgs84, gcj02, bd09\n"
    )


def test_no_bd09_past_the_antimeridian(maps_cli: Callable[..., CliResult]) -> None:
    result = maps_cli("maps", "convert", "0", "179.999", "--from", "wgs84", "--to", "bd09")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: (0, 179.999) in wgs84 has no bd09 equivalent:")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("31", "--from", "wgs84", "--to", "gcj02"), "Error: Missing argument 'LON'."),
        (("31", "121", "--to", "gcj02"), "Error: Missing option '--from'."),
    ],
)
def test_missing_input_is_typers_usage_error(
    maps_cli: Callable[..., CliResult], args: tuple[str, ...], message: str
) -> None:
    result = maps_cli("maps", "convert", *args)
    assert result.exit_code == 2
    assert result.stderr.rstrip("\n").endswith(message)
