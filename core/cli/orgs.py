"""``regiocrm orgs``: the OEM, wholesalers, dealers, call centres and partners."""

from __future__ import annotations

from typing import Annotated

import typer

from regiocrm.cli.context import CliError, JsonOption, cli_context, print_rows
from regiocrm.crm.accounts import AccountError, subdivision_in
from regiocrm.geo.chain import NotLocated
from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.maps import Point
from regiocrm.interfaces.packs import PackError
from regiocrm.interfaces.terms import LicenceTier, OrganizationKind
from regiocrm.platform.i18n import _
from regiocrm.services.directory import DirectoryService, NewOrganization
from regiocrm.services.zones import ZoneService

app = typer.Typer(help="Add and list organizations.", no_args_is_help=True)


@app.command()
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The organization's unique name.")],
    kind: Annotated[OrganizationKind, typer.Option(help="What the organization is.")],
    market: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 market, e.g. CN.")],
    parent: Annotated[str | None, typer.Option(help="Name of the parent organization.")] = None,
    tier: Annotated[
        LicenceTier | None,
        typer.Option(
            help="Licence tier; default full for oem/wholesaler/call_centre, else community."
        ),
    ] = None,
    address: Annotated[
        str | None, typer.Option(help="Postal address; a dealer's is geocoded unless --lat/--lon.")
    ] = None,
    lat: Annotated[float | None, typer.Option(min=-90, max=90, help="WGS-84 latitude.")] = None,
    lon: Annotated[float | None, typer.Option(min=-180, max=180, help="WGS-84 longitude.")] = None,
    subdivision: Annotated[
        str | None,
        typer.Option(
            help="ISO 3166-2 subdivision of the market, e.g. NSW (AU-NSW): its clocks keep"
            " the subdivision's public holidays."
        ),
    ] = None,
) -> None:
    """Add an organization; a dealer with a location receives the leads nearest to it."""
    context = cli_context(ctx)
    market = _market(market)
    try:
        context.hooks.packs().for_market(market)
    except PackError as exc:
        raise CliError(str(exc)) from None
    if (lat is None) != (lon is None):
        raise CliError(_("--lat and --lon go together"))
    try:
        # Checked before a dealer's address is sent to the map providers.
        subdivision = None if subdivision is None else subdivision_in(market, subdivision)
    except AccountError as exc:
        raise CliError(str(exc)) from None
    context.require_migrated()
    directory = DirectoryService(context.application)
    location = None if lat is None or lon is None else Point(lat, lon)
    if location is None and address and kind is OrganizationKind.DEALER:
        location = _geocode(directory, address, market)
    new = NewOrganization(name, kind, market, parent, tier, address, location, subdivision)
    try:
        org = directory.add_organization(new)
    except AccountError as exc:
        raise CliError(str(exc)) from None
    typer.echo(
        _("created {kind} {name} ({market}, {tier} licence)").format(
            kind=org.kind.value, name=org.name, market=org.where, tier=org.licence_tier.value
        )
    )


@app.command("list")
def list_orgs(
    ctx: typer.Context,
    as_json: JsonOption = False,
) -> None:
    """List organizations."""
    context = cli_context(ctx)
    context.require_migrated(ZoneService(context.application).home)
    rows = [org.as_json() for org in DirectoryService(context.application).organizations()]
    columns = [
        "name",
        "kind",
        "market",
        "subdivision",
        "licence_tier",
        "parent",
        "active",
        "address",
    ]
    print_rows(_("organizations"), rows, columns, as_json)


def _geocode(directory: DirectoryService, address: str, market: str) -> Point | None:
    """The dealer's point from the market's map chain; a dealer that cannot be placed is
    still added (it receives no leads until it has a location), with a warning."""
    try:
        located = directory.locate(address, market)
    except NotLocated as exc:
        typer.echo(_("warning: {reason}; added without a location").format(reason=exc), err=True)
        return None
    typer.echo(
        _("located by {provider}: {lat:.6f}, {lon:.6f}").format(
            provider=located.provider, lat=located.point.lat, lon=located.point.lon
        )
    )
    return located.point


def _market(value: str) -> str:
    market = value.upper()
    if len(market) != 2 or not market.isalpha():
        raise CliError(
            _("--market: {value!r} is not an ISO 3166-1 alpha-2 code such as CN or JP").format(
                value=value
            )
        )
    return market


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="orgs")
