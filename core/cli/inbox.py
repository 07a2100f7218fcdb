"""``regiocrm inbox``: inbound messages waiting, failed or processed, retrying them, and
polling the mailboxes."""

from __future__ import annotations

from datetime import datetime
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
from regiocrm.interfaces.terms import InboxStatus
from regiocrm.platform.i18n import _
from regiocrm.services.inbound import DatabaseFailed, InboundService, UnknownAccount

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
        if report.mailboxes:
            print_table(
                _("mailboxes"),
                ["account", "polled at", "unreachable since", "reason"],
                [
                    [
                        state.account,
                        _moment(state.polled_at),
                        _moment(state.failing_since),
                        state.error or "",
                    ]
                    for state in report.mailboxes
                ],
            )
    if report.failed or report.unreachable:
        raise typer.Exit(1)


def _moment(at: datetime | None) -> str:
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M:%S UTC")


@app.command()
def poll(
    ctx: typer.Context,
    account: Annotated[
        str | None, typer.Argument(help="Only this account (default: every polled account).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Fetch the new mail of each polled account (an IMAP mailbox) once, now, store it and
    process it, as `regiocrm worker` does continuously; exit 1 if a mailbox could not be
    reached (why is kept for `regiocrm inbox status` and `regiocrm rollout check`)."""
    context = cli_context(ctx)
    context.require_migrated()
    try:
        results = InboundService(context.application).poll(account)
    except UnknownAccount as exc:
        raise CliError(str(exc)) from None
    if as_json:
        print_json([result.as_json() for result in results])
    else:
        if not results:
            typer.echo(_("no account is polled: give an email account an [imap] mailbox"))
        for result in results:
            if result.error is not None:
                typer.echo(
                    _("{account}: cannot be polled: {reason}").format(
                        account=result.account, reason=result.error
                    ),
                    err=True,
                )
                continue
            typer.echo(
                _("{account}: {fetched} fetched, {stored} new, {refused} refused").format(
                    account=result.account,
                    fetched=result.fetched,
                    stored=len(result.stored),
                    refused=len(result.refused),
                )
            )
            for message_id, reason in result.refused.items():
                typer.echo(f"  {message_id}: {reason}", err=True)
    if any(result.error is not None for result in results):
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
