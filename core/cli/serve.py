"""``regiocrm serve``: the HTTP service (the console, webhooks, JSON API, health)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
import uvicorn

from regiocrm.cli.context import cli_context
from regiocrm.hookspecs import hookimpl
from regiocrm.http.access_log import log_config
from regiocrm.http.app import create_app
from regiocrm.platform.i18n import _
from regiocrm.services.zones import ZoneService


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on; default [http] host.")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on; default [http] port.")
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
    # httpx logs each request's URL at INFO, and some map providers take their key in the
    # query string: keep those lines out of a deployment's logs whatever its log level.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = create_app(settings, context.hooks)
    uvicorn.run(
        app,
        host=host or settings.http.host,
        port=port or settings.http.port,
        log_config=log_config(settings, context.hooks.channels().values()),
    )


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.command()(serve)
