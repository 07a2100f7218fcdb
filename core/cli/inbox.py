"""``regiocrm inbox``: inbound messages waiting, failed or processed, and retrying them."""

from __future__ import annotations

import httpx
import typer
from sqlalchemy import func, select

from regiocrm.cli.context import JsonOption, cli_context, print_json, print_table, progress
from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.channels import PROVIDER_TIMEOUT
from regiocrm.interfaces.terms import InboxStatus
from regiocrm.messaging.inbox import requeue_failed, waiting
from regiocrm.messaging.pipeline import InboxPipeline
from regiocrm.models import InboxMessage
from regiocrm.platform.i18n import _

app = typer.Typer(help="See and retry the inbox of inbound messages.", no_args_is_help=True)


@app.command()
def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """How many inbound messages are waiting, processed or failed, per channel account;
    exit 1 if any failed."""
    context = cli_context(ctx)
    context.require_migrated()
    by_state = select(InboxMessage.channel_account, InboxMessage.status, func.count()).group_by(
        InboxMessage.channel_account, InboxMessage.status
    )
    with context.stores.session() as session:
        rows = [
            row
            for zone in context.stores.names
            for row in session.execute(by_state.execution_options(zones=[zone]))
        ]
        failures = session.execute(
            select(InboxMessage.channel_account, InboxMessage.external_id, InboxMessage.error)
            .where(InboxMessage.status == InboxStatus.FAILED)
            .order_by(InboxMessage.received_at)
            .limit(20)
        ).all()
    counts: dict[str, dict[str, int]] = {}
    for account, state, count in sorted(rows):
        counts.setdefault(account, {s.value: 0 for s in InboxStatus})[state.value] += count
    report = [{"account": account, **by_state} for account, by_state in counts.items()]
    if as_json:
        print_json(
            {
                "accounts": report,
                "failed": [
                    {"account": a, "external_id": e, "error": err} for a, e, err in failures
                ],
            }
        )
    else:
        states = [state.value for state in InboxStatus]
        print_table(
            _("inbox"),
            ["account", *states],
            [[r["account"], *(r[s] for s in states)] for r in report],
        )
        for account, external_id, error in failures:
            typer.echo(f"{account} {external_id}: {error}", err=True)
    if failures:
        raise typer.Exit(1)


@app.command()
def retry(ctx: typer.Context) -> None:
    """Put failed messages back and process everything waiting, now, in this process, as
    the server's inbox worker does: auto-replies still to be sent are sent, once."""
    context = cli_context(ctx)
    context.require_migrated()
    registry = context.hooks.channel_registry(context.settings)
    requeued = requeue_failed(context.stores)
    pending = waiting(context.stores)
    done = failed = 0
    with progress() as bar, httpx.Client(timeout=PROVIDER_TIMEOUT) as client:
        pipeline = InboxPipeline(context.stores, context.hooks, registry, client)
        task = bar.add_task(_("processing the inbox"), total=len(pending))
        for inbox in pending:
            try:
                if pipeline(inbox) is not None:
                    done += 1
            except Exception:
                failed += 1
            bar.advance(task)
    typer.echo(
        _("requeued {requeued} failed; processed {done}, failed {failed}").format(
            requeued=requeued, done=done, failed=failed
        )
    )
    if failed:
        raise typer.Exit(1)


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="inbox")
