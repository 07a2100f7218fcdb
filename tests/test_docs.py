"""The references cover what the code has: every setting and every command."""

from __future__ import annotations

from pathlib import Path

import typer
from pydantic import BaseModel

from regiocrm.cli.main import build_cli
from regiocrm.geo.datums import convert, great_circle_km, in_mainland_china
from regiocrm.interfaces.maps import Datum, Point
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_setting_is_in_the_reference() -> None:
    reference = (DOCS / "reference" / "settings.md").read_text()
    for name, field in RegiocrmSettings.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            assert f"## `[{name}]`" in reference
            for key in section.model_fields:
                assert f"| `{key}` |" in reference, f"[{name}] {key}"
        else:
            assert f"| `{name}` |" in reference, name


def test_every_command_is_in_the_reference(regiocrm_hooks: Hooks) -> None:
    reference = (DOCS / "reference" / "cli.md").read_text()
    root = typer.main.get_command(build_cli(regiocrm_hooks))
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        for sub in getattr(command, "commands", {None: None}):
            usage = f"`regiocrm {name} {sub}" if sub else f"`regiocrm {name}"
            assert usage in reference, usage


def test_the_maps_page_gives_sinuijus_round_trip_as_the_code_has_it() -> None:
    """docs/maps.md warns of the border strip with Sinuiju, a North Korean city the
    mainland polygon holds, whose conversion does not come back: the figures it quotes
    are the code's."""
    page = (DOCS / "maps.md").read_text()
    sinuiju = Point(40.1006, 124.3981)
    shifted = convert(sinuiju, Datum.GCJ02)
    back = convert(shifted, Datum.WGS84)
    assert in_mainland_china(sinuiju.lat, sinuiju.lon)
    assert not in_mainland_china(shifted.lat, shifted.lon)
    assert f"({sinuiju.lat}, {sinuiju.lon})" in page
    assert f"({shifted.lat:.4f}, {shifted.lon:.4f})" in page
    error = great_circle_km(sinuiju, Point(back.lat, back.lon)) * 1000
    assert f"**about {round(error, -1):.0f} m**" in page
    assert "### Within about 5 km of China's land border" in page
