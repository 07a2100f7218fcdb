"""``regiocrm serve``: the HTTP service (the console, webhooks, JSON API, health)."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from regiocrm.cli.context import cli_context
from regiocrm.hookspecs import hookimpl
from regiocrm.http.access_log import log_config
from regiocrm.http.app import WORKER_APP, create_app
from regiocrm.platform.i18n import _
from regiocrm.services.zones import ZoneService


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on; default \\[http] host.")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on; default \\[http] port.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Server processes sharing the port, each loading the installed plugins and"
            " the settings as this command does; default \\[http] workers (1). uvicorn"
            " replaces one that dies.",
        ),
    ] = None,
) -> None:
    """Serve the web console at /, the JSON API under /api, webhooks and /healthz with
    uvicorn."""
    context = cli_context(ctx)
    settings = context.settings
    zones = ZoneService(context.application).states()
    behind = [state.zone for state in zones if not state.migrated]
    if behind:
        typer.echo(
            _(
                "warning: zones not migrated to head: {zones}; run `regiocrm db upgrade`"
                " (/healthz answers 503 until then)"
            ).format(zones=", ".join(behind)),
            err=True,
        )
    host = host or settings.http.host
    port = port or settings.http.port
    logging = log_config(settings, context.hooks.channels().values())
    processes = workers or settings.http.workers
    if processes == 1:
        app = create_app(settings, context.hooks)
        uvicorn.run(app, host=host, port=port, log_config=logging)
    else:
        # Each worker process builds its own app: an app cannot be handed to another process.
        uvicorn.run(
            WORKER_APP, factory=True, workers=processes, host=host, port=port, log_config=logging
        )


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.command()(serve)
