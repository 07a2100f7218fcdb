"""``regiocrm maps``: map helpers that need no provider, such as converting between datums."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from regiocrm.cli.context import CliError, JsonOption, print_json
from regiocrm.geo.datums import convert as convert_point
from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.maps import Datum, Point
from regiocrm.platform.i18n import _

app = typer.Typer(
    help="Map helpers: convert a point between WGS-84, GCJ-02 and BD-09.",
    no_args_is_help=True,
)

DATUMS = ", ".join(datum.value for datum in Datum)


def _number(value: str) -> float | None:
    """The finite number a command-line word spells, or None (``nan`` and ``inf`` parse
    as floats but are no coordinate)."""
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _latitude(value: str) -> float:
    number = _number(value)
    if number is None or not -90 <= number <= 90:
        raise CliError(
            _("latitude must be a number from -90 to 90, not {value!r}").format(value=value)
        )
    return number


def _longitude(value: str) -> float:
    number = _number(value)
    if number is None or not -180 <= number <= 180:
        raise CliError(
            _("longitude must be a number from -180 to 180, not {value!r}").format(value=value)
        )
    return number


def _datum(value: str, option: str) -> Datum:
    try:
        return Datum(value.strip().lower())
    except ValueError:
        raise CliError(
            _("unknown datum {value!r} for {option}: use one of {datums}").format(
                value=value, option=option, datums=DATUMS
            )
        ) from None


# Coordinates and datums are taken as text and checked here, so that every bad value is
# one translated "Error:" line rather than Click's usage block. A negative coordinate
# (-33.87) looks like an option to Click: ignore_unknown_options lets it through as an
# argument, so `regiocrm maps convert -33.87 151.21 ...` works without `--`.
@app.command(context_settings={"ignore_unknown_options": True})
def convert(
    lat: Annotated[str, typer.Argument(metavar="LAT", help="Latitude in degrees, -90..90.")],
    lon: Annotated[str, typer.Argument(metavar="LON", help="Longitude in degrees, -180..180.")],
    from_: Annotated[
        str, typer.Option("--from", metavar="DATUM", help=f"The point's datum: {DATUMS}.")
    ],
    to: Annotated[str, typer.Option("--to", metavar="DATUM", help=f"The datum wanted: {DATUMS}.")],
    as_json: JsonOption = False,
) -> None:
    """Convert a point between datums. GCJ-02 is shifted only in mainland China; BD-09 is
    Baidu's offset of GCJ-02 everywhere."""
    point = Point(_latitude(lat), _longitude(lon), _datum(from_, "--from"))
    target = _datum(to, "--to")
    try:
        result = convert_point(point, target)
    except ValueError:
        raise CliError(
            _(
                "({lat}, {lon}) in {source} has no {target} equivalent: Baidu's offset "
                "carries it past a pole or the antimeridian"
            ).format(lat=lat, lon=lon, source=point.datum.value, target=target.value)
        ) from None
    if as_json:
        print_json({"lat": result.lat, "lon": result.lon, "datum": result.datum.value})
        return
    typer.echo(f"{result.lat:.7f}, {result.lon:.7f} ({result.datum.value})")


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="maps")
