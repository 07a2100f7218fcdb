"""``regiocrm worker``: the inbox worker alone, for deployments that run it apart from the
serving processes (``[inbox] process_in_server = false``)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer

from regiocrm.cli.context import cli_context
from regiocrm.hookspecs import hookimpl
from regiocrm.platform.i18n import _


def worker(ctx: typer.Context) -> None:
    """Process the inbox (messages the webhooks of any serving process stored) until
    SIGINT or SIGTERM, then release the messages claimed and not processed."""
    context = cli_context(ctx)
    context.require_migrated()
    inbox = context.application.standalone_worker()
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    typer.echo(
        _("processing the inbox as {owner} until SIGINT or SIGTERM").format(owner=inbox.owner)
    )
    inbox.start()
    stopping.wait()
    inbox.stop()
    typer.echo(_("stopped; the messages not processed are released to other workers"))


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.command()(worker)
