"""``regiocrm users``: people who use the API and the console, and their tokens."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from regiocrm.cli.context import CliError, JsonOption, cli_context, print_json, print_rows
from regiocrm.crm.accounts import AccountError
from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.terms import UserRole
from regiocrm.platform.i18n import _
from regiocrm.services.directory import DirectoryService
from regiocrm.services.signin import SignInService
from regiocrm.services.zones import ZoneService

app = typer.Typer(
    help="Add and list users, their API tokens and console passwords.", no_args_is_help=True
)


def password_from_stdin() -> str:
    """The password on standard input, without the line end a pipe or ``echo`` adds: read
    there rather than from an argument, which other users of the machine could see in the
    process list."""
    password = sys.stdin.read().rstrip("\r\n")
    if not password:
        raise CliError(_("no password on standard input"))
    return password


@app.command()
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user's unique login name.")],
    role: Annotated[UserRole, typer.Option(help="What the user does.")],
    org: Annotated[
        str | None,
        typer.Option(help="Organization name; default: the deployment's own organization."),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read their console password from standard input."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Add a user and print a new API token as the last line (shown once, stored hashed);
    with ``--json``, the user and the token as one object."""
    context = cli_context(ctx)
    context.require_migrated()
    password = password_from_stdin() if password_stdin else None
    try:
        created = DirectoryService(context.application).add_user(name, role, org, password=password)
    except AccountError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        print_json({**created.user.as_json(), "token": created.token})
        return
    typer.echo(
        _("created user {name} ({role}) in {organization}").format(
            name=name, role=role.value, organization=created.user.organization
        )
    )
    typer.echo(_("API token, shown only now; send it as 'Authorization: Bearer <token>':"))
    typer.echo(created.token)


@app.command()
def passwd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user's login name.")],
) -> None:
    """Set a user's console password, read from standard input (stored as an argon2id
    hash)."""
    context = cli_context(ctx)
    context.require_migrated()
    password = password_from_stdin()
    try:
        SignInService(context.application).set_password(name, password)
    except AccountError as exc:
        raise CliError(str(exc)) from None
    typer.echo(_("console password set for {name}").format(name=name))


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
