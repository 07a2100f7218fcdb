"""``regiocrm translations``: how complete each message catalog is, core and plugins alike."""

from __future__ import annotations

import typer

from regiocrm.cli.context import JsonOption, cli_context, print_json, print_table
from regiocrm.hookspecs import hookimpl
from regiocrm.platform.i18n import _, catalog_status, core_catalogs

app = typer.Typer(help="Check the message catalogs for untranslated strings.", no_args_is_help=True)


@app.command()
def check(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Each catalog's translated share; exit 1 if any message is untranslated or fuzzy."""
    folders = {"regiocrm": core_catalogs(), **cli_context(ctx).hooks.catalog_folders()}
    statuses = [
        status for label, folder in folders.items() for status in catalog_status(folder, label)
    ]
    if as_json:
        print_json([status.as_dict() for status in statuses])
    else:
        print_table(
            _("translations"),
            ["folder", "catalog", "translated", "total", "percent", "untranslated"],
            [
                [
                    s.folder,
                    s.catalog,
                    s.translated,
                    s.total,
                    f"{s.percent:g}",
                    "\n".join((*s.missing, *s.fuzzy)),
                ]
                for s in statuses
            ],
        )
    if not all(status.complete for status in statuses):
        raise typer.Exit(1)


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="translations")
