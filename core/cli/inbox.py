"""``regiocrm inbox``: inbound messages waiting, failed or processed, and retrying them."""

from __future__ import annotations

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
from regiocrm.interfaces.terms import InboxStatus
from regiocrm.platform.i18n import _
from regiocrm.services.inbound import DatabaseFailed, InboundService

app = typer.Typer(help="See and retry the inbox of inbound messages.", no_args_is_help=True)


@app.command()
def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """How many inbound messages are waiting, processed or failed, per channel account;
    exit 1 if any failed."""
    context = cli_context(ctx)
    context.require_migrated()
    report = InboundService(context.application).report()
    if as_json:
        print_json(report.as_json())
    else:
        states = list(InboxStatus)
        print_table(
            _("inbox"),
            ["account", *(state.value for state in states)],
            [
                [counts.account, *(counts.by_status[s] for s in states)]
                for counts in report.accounts
            ],
        )
        for failure in report.failed:
            typer.echo(f"{failure.account} {failure.external_id}: {failure.error}", err=True)
    if report.failed:
        raise typer.Exit(1)


@app.command()
def retry(ctx: typer.Context) -> None:
    """Put failed messages back and process everything waiting, now, in this process, as
    the server's inbox worker does: auto-replies still to be sent are sent, once."""
    context = cli_context(ctx)
    context.require_migrated()
    try:
        with progress() as bar:
            task = bar.add_task(_("processing the inbox"), total=None)
            retried = InboundService(context.application).retry(
                progress=lambda done, total: bar.update(task, completed=done, total=total)
            )
    except DatabaseFailed as exc:
        raise CliError(
            _(
                "the database failed: {reason}; what was not processed is still waiting:"
                " run `regiocrm inbox retry` again once it answers"
            ).format(reason=exc)
        ) from None
    typer.echo(
        _("requeued {requeued} failed; processed {done}, failed {failed}").format(
            requeued=retried.requeued, done=retried.processed, failed=retried.failed
        )
    )
    if retried.failed:
        raise typer.Exit(1)


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="inbox")
