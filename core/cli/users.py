"""``regiocrm users``: people who use the API and the console, and their tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from regiocrm.cli.context import CliError, JsonOption, cli_context, print_rows
from regiocrm.crm.accounts import AccountError
from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.terms import UserRole
from regiocrm.platform.i18n import _
from regiocrm.services.directory import DirectoryService
from regiocrm.services.zones import ZoneService

app = typer.Typer(help="Add and list users and their API tokens.", no_args_is_help=True)


@app.command()
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user's unique login name.")],
    role: Annotated[UserRole, typer.Option(help="What the user does.")],
    org: Annotated[
        str | None,
        typer.Option(help="Organization name; default: the deployment's own organization."),
    ] = None,
) -> None:
    """Add a user and print a new API token as the last line (shown once, stored hashed)."""
    context = cli_context(ctx)
    context.require_migrated()
    try:
        created = DirectoryService(context.application).add_user(name, role, org)
    except AccountError as exc:
        raise CliError(str(exc)) from None
    typer.echo(
        _("created user {name} ({role}) in {organization}").format(
            name=name, role=role.value, organization=created.user.organization
        )
    )
    typer.echo(_("API token, shown only now; send it as 'Authorization: Bearer <token>':"))
    typer.echo(created.token)


@app.command("list")
def list_users(
    ctx: typer.Context,
    as_json: JsonOption = False,
) -> None:
    """List users with their organization and how many live tokens they hold."""
    context = cli_context(ctx)
    context.require_migrated(ZoneService(context.application).home)
    rows = [user.as_json() for user in DirectoryService(context.application).users()]
    print_rows(_("users"), rows, ["name", "role", "organization", "active", "tokens"], as_json)


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="users")
