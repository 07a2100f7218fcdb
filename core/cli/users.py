"""``regiocrm users``: people who use the API and the console, and their tokens."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import func, select

from regiocrm.cli.context import CliError, JsonOption, cli_context, print_rows
from regiocrm.crm.accounts import AccountError, create_organization, create_user, organization_named
from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.terms import OrganizationKind, UserRole
from regiocrm.models import ApiToken, Organization, User
from regiocrm.platform.i18n import _

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
    deployment = context.settings.deployment
    context.require_migrated()
    try:
        with context.stores.session() as session:
            organization = organization_named(session, org or deployment.organization)
            if organization is None and org is not None:
                raise AccountError(
                    _(
                        "unknown organization {org!r}: add it with"
                        " `regiocrm orgs add {org!r} --kind dealer --market {market}`"
                    ).format(org=org, market=deployment.market)
                )
            if organization is None:
                organization = create_organization(
                    session,
                    name=deployment.organization,
                    kind=OrganizationKind.OEM,
                    market=deployment.market,
                )
            created = create_user(session, name=name, role=role, organization=organization)
    except AccountError as exc:
        raise CliError(str(exc)) from None
    typer.echo(
        _("created user {name} ({role}) in {organization}").format(
            name=name, role=role.value, organization=created.organization.name
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
    context.require_migrated(context.stores.home)
    live_tokens = (
        select(func.count(ApiToken.id))
        .where(ApiToken.user_id == User.id, ApiToken.revoked_at.is_(None))
        .scalar_subquery()
    )
    with context.stores.session() as session:
        result = session.execute(
            select(User, Organization.name, live_tokens)
            .join(Organization, User.organization_id == Organization.id)
            .order_by(User.name)
        )
        rows = [
            {
                "id": str(user.id),
                "name": user.name,
                "role": user.role.value,
                "organization": org_name,
                "active": user.active,
                "tokens": tokens,
            }
            for user, org_name, tokens in result
        ]
    print_rows(_("users"), rows, ["name", "role", "organization", "active", "tokens"], as_json)


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="users")
