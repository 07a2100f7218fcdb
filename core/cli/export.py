"""``regiocrm export``: take a customer's data across a border, as the rules allow."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer

from regiocrm.cli.context import CliError, JsonOption, cli_context, print_json
from regiocrm.crm.customers import UnknownCustomer
from regiocrm.hookspecs import hookimpl
from regiocrm.platform.i18n import _
from regiocrm.platform.settings import ZONE_NAME
from regiocrm.residency.exports import FILE, ExportError, ExportRefused
from regiocrm.services.exports import ExportService

app = typer.Typer(help="Export a customer's data to another zone or a file.", no_args_is_help=True)


@app.command()
def customer(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(metavar="ID", help="The customer's id.")],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="ZONE_OR_FILE",
            help="A configured zone (the document is kept there) or a new file's path.",
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Export everything held about a customer, from every zone.

    Each class of their data goes only where its market's rules allow: to a zone the rule
    lists, or with what the rule requires (the customer's consent to export, an approved
    transfer assessment). A refusal names everything missing; exports and refusals are both
    audited.
    """
    context = cli_context(ctx)
    try:
        wanted = uuid.UUID(customer_id)
    except ValueError:
        raise CliError(_("{value!r} is not a customer id").format(value=customer_id)) from None
    exports = ExportService(context.application)
    if to in exports.zones:
        destination, path = to, None
    elif ZONE_NAME.match(to) and "." not in to:
        raise CliError(
            _(
                "unknown zone {zone!r} (configured zones: {known}); to write a file,"
                " give a path such as ./{zone}.json"
            ).format(zone=to, known=", ".join(exports.zones))
        )
    else:
        destination, path = FILE, Path(to)
    context.require_migrated()
    try:
        exported = exports.export_as_operator(wanted, destination, path=path)
    except ExportRefused as exc:
        raise CliError("\n".join(exc.missing)) from None
    except (ExportError, UnknownCustomer) as exc:
        raise CliError(str(exc)) from None
    if as_json:
        print_json(exported.as_dict())
        return
    where = str(exported.path) if exported.path else _("zone {zone}").format(zone=destination)
    typer.echo(
        _("exported customer {customer} ({classes}) to {where}").format(
            customer=exported.customer_id,
            classes=", ".join(exported.as_dict()["classes"]),
            where=where,
        )
    )
    for key, basis in exported.basis.items():
        typer.echo(f"  {key}: {basis}")


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="export")
