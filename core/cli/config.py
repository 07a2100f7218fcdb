"""``regiocrm config``: show and check the deployment's settings."""

from __future__ import annotations

import typer

from regiocrm.cli.context import CliError, cli_context, print_json
from regiocrm.hookspecs import hookimpl
from regiocrm.platform.i18n import _
from regiocrm.platform.settings import config_file
from regiocrm.services.zones import ZoneError, ZoneService

app = typer.Typer(help="Show and check the deployment's settings.", no_args_is_help=True)


@app.command()
def show(ctx: typer.Context) -> None:
    """Print the settings in force as JSON, secrets and database passwords masked."""
    print_json(ZoneService(cli_context(ctx).application).masked_settings())


@app.command()
def check(ctx: typer.Context) -> None:
    """Validate the settings; exit 2 naming each wrong key, its source and the reason."""
    zones = ZoneService(cli_context(ctx).application)
    try:
        zones.check_writable()
    except ZoneError as exc:
        raise CliError(str(exc)) from None
    source = config_file()
    where = str(source.absolute()) if source.exists() else _("defaults and environment")
    typer.echo(
        _("settings OK ({where}); zones: {zones}").format(where=where, zones=", ".join(zones.names))
    )


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="config")
