"""``regiocrm worker``: the inbox worker and the event sources, for deployments that run them
apart from the serving processes (``[inbox] process_in_server = false``), and
``regiocrm sources``: the event sources configured."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from regiocrm.cli.context import JsonOption, cli_context, print_json, print_table
from regiocrm.hookspecs import hookimpl
from regiocrm.platform.i18n import _
from regiocrm.services.event_sources import SourceRunner, configured_sources, ingesting
from regiocrm.services.inbound import mailbox_polling

sources_app = typer.Typer(help="The event sources of the deployment.", no_args_is_help=True)


def worker(
    ctx: typer.Context,
    inbox: Annotated[
        bool,
        typer.Option(
            "--inbox/--no-inbox",
            help="Process the inbox (messages the webhooks of any serving process stored).",
        ),
    ] = True,
    sources: Annotated[
        bool,
        typer.Option(
            "--sources/--no-sources",
            help="Run the enabled [event_sources.<name>] (MQTT, NATS JetStream, plugins'),"
            " each in a thread, into the telematics store.",
        ),
    ] = True,
    mailboxes: Annotated[
        bool,
        typer.Option(
            "--mailboxes/--no-mailboxes",
            help="Poll the mailboxes of the email accounts with an [imap] table, each in a"
            " thread, into the inbox.",
        ),
    ] = True,
) -> None:
    """Process the inbox, poll the mailboxes and run the event sources until SIGINT or
    SIGTERM.

    Each event source acknowledges a message to its broker only after the batch that
    carried it is committed. On SIGINT or SIGTERM each source finishes the batch in hand
    (committed, then acknowledged) or abandons it unacknowledged, for the broker to deliver
    again; each mailbox marks on the server only what was committed; the inbox messages
    claimed and not processed are released to other workers.
    Several workers may run at once: they share the inbox, and the JetStream sources'
    durable consumers (an MQTT source's client id is for one worker at a time).
    """
    context = cli_context(ctx)
    context.require_migrated()
    application = context.application
    runner = SourceRunner(
        configured_sources(context.settings, context.hooks) if sources else [],
        ingesting(application),
        announce=typer.echo,
    )
    inbox_worker = application.standalone_worker() if inbox else None
    polling = mailbox_polling(application, inbox_worker) if mailboxes else None
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    if inbox_worker is not None:
        typer.echo(
            _("processing the inbox as {owner} until SIGINT or SIGTERM").format(
                owner=inbox_worker.owner
            )
        )
        inbox_worker.start()
    for source in runner.sources:
        typer.echo(
            _("running event source {name} ({kind})").format(name=source.name, kind=source.kind)
        )
    runner.start()
    if polling is not None:
        for _channel, account in polling.accounts:
            typer.echo(_("polling the mailbox of {account}").format(account=account.name))
        polling.start()
    stopping.wait()
    if polling is not None:
        polling.stop()
    runner.stop()
    if inbox_worker is not None:
        inbox_worker.stop()
        typer.echo(_("stopped; the messages not processed are released to other workers"))
    for status in runner.statuses():
        typer.echo(
            _(
                "event source {name}: {delivered} events delivered in {batches} batches,"
                " {rejected} rejected, {failures} sink failures"
            ).format(
                name=status.name,
                delivered=status.delivered,
                batches=status.batches,
                rejected=status.rejected,
                failures=status.failures,
            )
        )


@sources_app.command("list")
def list_sources(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The configured event sources: name, kind, whether `regiocrm worker` runs them, and
    where they read from (secrets masked)."""
    context = cli_context(ctx)
    found = configured_sources(context.settings, context.hooks)
    rows = [
        {
            "name": source.name,
            "kind": source.kind,
            "enabled": source.enabled,
            "settings": source.settings.model_dump(mode="json", exclude={"kind", "enabled"}),
        }
        for source in found
    ]
    if as_json:
        print_json(rows)
        return
    print_table(
        _("event sources"),
        ["name", "kind", "enabled", "settings"],
        [
            [
                row["name"],
                row["kind"],
                row["enabled"],
                ", ".join(f"{key}={value}" for key, value in row["settings"].items()),
            ]
            for row in rows
        ],
    )


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.command()(worker)
    cli.add_typer(sources_app, name="sources")
