"""``regiocrm plugins``: what is installed and which hooks each plugin implements."""

from __future__ import annotations

import typer

from regiocrm.cli.context import JsonOption, cli_context, print_json, print_table
from regiocrm.hookspecs import hookimpl
from regiocrm.platform.i18n import _
from regiocrm.platform.plugins import describe_plugins

app = typer.Typer(help="List the registered plugins.", no_args_is_help=True)


@app.command("list")
def list_plugins(
    ctx: typer.Context,
    as_json: JsonOption = False,
) -> None:
    """Every plugin, built-in or installed, with the hooks it implements."""
    infos = describe_plugins(cli_context(ctx).hooks.pm)
    if as_json:
        print_json([info.as_dict() for info in infos])
        return
    print_table(
        _("plugins"),
        ["name", "distribution", "version", "hooks"],
        [
            [info.name, info.distribution or _("(built-in)"), info.version, ", ".join(info.hooks)]
            for info in infos
        ],
    )


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="plugins")
