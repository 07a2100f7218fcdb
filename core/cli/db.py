"""``regiocrm db``: migrate every zone's schema and see where each stands."""

from __future__ import annotations

from typing import Annotated

import typer

from regiocrm.cli.context import (
    CliError,
    JsonOption,
    cli_context,
    print_json,
    print_table,
    progress,
)
from regiocrm.hookspecs import hookimpl
from regiocrm.platform.i18n import _
from regiocrm.services.zones import ZoneError, ZoneService

app = typer.Typer(help="Migrate the zones' schemas and show their state.", no_args_is_help=True)

ZoneOption = Annotated[
    list[str] | None,
    typer.Option("--zone", "-z", help="Act on this zone only (repeatable); default: every zone."),
]


@app.command()
def upgrade(ctx: typer.Context, zone: ZoneOption = None) -> None:
    """Upgrade every configured zone (or those named) to the migration heads."""
    zones = ZoneService(cli_context(ctx).application)
    names = zone or zones.names
    try:
        with progress() as bar:
            task = bar.add_task(_("upgrading zones"), total=len(names))

            def advance(name: str) -> None:
                bar.update(
                    task, description=_("upgrading zone {zone}").format(zone=name), advance=1
                )

            states = zones.upgrade(names, on_zone=advance)
    except ZoneError as exc:
        raise CliError(str(exc)) from None
    for state in states:
        revisions = ", ".join(state.revisions) or "base"
        typer.echo(_("zone {zone}: at {revisions}").format(zone=state.zone, revisions=revisions))


@app.command()
def current(
    ctx: typer.Context,
    zone: ZoneOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show each zone's revision against the heads; exit 1 if any is behind or unreachable."""
    try:
        states = ZoneService(cli_context(ctx).application).states(zone)
    except ZoneError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        print_json([state.as_dict() for state in states])
    else:
        print_table(
            _("zones"),
            ["zone", "url", "revision", "heads", "migrated", "note"],
            [
                [
                    s.zone,
                    s.url,
                    ", ".join(s.revisions) or "base",
                    ", ".join(s.heads),
                    _("yes") if s.migrated else _("no"),
                    s.error,
                ]
                for s in states
            ],
        )
    if not all(state.migrated for state in states):
        raise typer.Exit(1)


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="db")
