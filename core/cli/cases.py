"""``regiocrm cases``: cases waiting, and raising those whose clocks have run out."""

from __future__ import annotations

import typer

from regiocrm.cli.context import JsonOption, cli_context, print_rows
from regiocrm.hookspecs import hookimpl
from regiocrm.platform.i18n import _
from regiocrm.services.cases import CaseService

app = typer.Typer(help="See cases and escalate the overdue.", no_args_is_help=True)

COLUMNS = ["id", "market", "status", "priority", "subject", "due_at", "escalation_level"]


@app.command()
def escalate(ctx: typer.Context, as_json_: JsonOption = False) -> None:
    """Raise every open case whose first answer or resolution is late, once per deadline
    missed (safe to run from cron); ``case_transitioned`` fires for each."""
    context = cli_context(ctx)
    context.require_migrated()
    raised = [case.as_json() for case in CaseService(context.application).escalate()]
    print_rows(_("escalated"), raised, COLUMNS, as_json_)


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="cases")
