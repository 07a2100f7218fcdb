"""``regiocrm telematics rollup``: raw vehicle events past their retention, summed by day."""

from __future__ import annotations

from typing import Annotated

import typer

from regiocrm.cli.context import JsonOption, cli_context, print_json, print_table, progress
from regiocrm.hookspecs import hookimpl
from regiocrm.platform.i18n import _
from regiocrm.services.telematics import Retained, TelematicsService

app = typer.Typer(help="The connected car's events.", no_args_is_help=True)


@app.command()
def rollup(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what is past retention.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Sum the raw vehicle events older than their market's retention (the pack's
    ``telematics_retention_days``, or ``[telematics] retention_days``) into one row per
    vehicle, day and kind, and delete them. Safe to run from cron: stopped anywhere and run
    again, it counts every event once."""
    context = cli_context(ctx)
    context.require_migrated()
    service = TelematicsService(context.application)
    if dry_run:
        done = service.past_retention()
    else:
        with progress() as bar:
            task = bar.add_task(_("summing vehicle events by day"), total=None)

            def advanced(work: Retained, events: int) -> None:
                bar.advance(task, events)

            done = service.rollup(on_progress=advanced)
    if as_json:
        print_json([work.as_json() for work in done])
        return
    print_table(
        _("vehicle events past retention") if dry_run else _("vehicle events summed by day"),
        ["market", "zone", "retention days", "before", "events"],
        [
            [w.market, w.zone, w.retention_days, w.before.isoformat(timespec="seconds"), w.events]
            for w in done
        ],
    )


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="telematics")
