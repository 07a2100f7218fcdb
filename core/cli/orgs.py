"""``regiocrm orgs``: the OEM, wholesalers, dealers, call centres and partners."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from regiocrm.cli.context import CliError, JsonOption, cli_context, print_rows
from regiocrm.crm.accounts import AccountError, subdivision_in
from regiocrm.crm.addresses import NewAddress
from regiocrm.geo.chain import NotLocated
from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.formats import Address, InvalidAddress
from regiocrm.interfaces.maps import Point
from regiocrm.interfaces.packs import PackError
from regiocrm.interfaces.terms import LicenceTier, OrganizationKind
from regiocrm.platform.i18n import _
from regiocrm.services.directory import DirectoryService, NewOrganization
from regiocrm.services.zones import ZoneService

ADDRESS_KIND = re.compile(r"^[a-z][a-z0-9_]{0,19}$")

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


@app.command()
def address(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The organization's name.")],
    street: Annotated[
        str | None, typer.Option(help="Street and number (in JP, the ward and block too).")
    ] = None,
    building: Annotated[str | None, typer.Option(help="Building, floor or unit.")] = None,
    district: Annotated[
        str | None, typer.Option(help="The city's district, where the country has them.")
    ] = None,
    city: Annotated[str | None, typer.Option(help="City, where the country writes one.")] = None,
    region: Annotated[
        str | None, typer.Option(help="Province, prefecture or state: its name or code.")
    ] = None,
    postal_code: Annotated[str | None, typer.Option(help="Postal code.")] = None,
    sorting_code: Annotated[
        str | None, typer.Option(help="Sorting code, where the country has them.")
    ] = None,
    recipient: Annotated[str | None, typer.Option(help="Who the mail is for.")] = None,
    country: Annotated[
        str | None, typer.Option(help="ISO 3166-1 alpha-2; default the organization's market.")
    ] = None,
    kind: Annotated[
        str, typer.Option(help="Which of its addresses: postal, billing, delivery…")
    ] = "postal",
) -> None:
    """Set an organization's address of one kind, replacing the one it had. It is checked
    against Google's address data for its country (which parts it uses, its regions, the
    pattern of its postal codes) and printed as that country writes it."""
    context = cli_context(ctx)
    if not ADDRESS_KIND.match(kind):
        raise CliError(
            _("--kind: {kind!r} is not a kind of address such as postal or billing").format(
                kind=kind
            )
        )
    parts = Address(
        recipient=recipient,
        building=building,
        street=street,
        district=district,
        city=city,
        region=region,
        postal_code=postal_code,
        sorting_code=sorting_code,
        country=None if country is None else country.upper(),
    )
    context.require_migrated(ZoneService(context.application).home)
    try:
        view = DirectoryService(context.application).set_address(name, NewAddress(parts, kind))
    except InvalidAddress as exc:
        raise CliError("\n".join(f"{part}: {why}" for part, why in exc.problems.items())) from None
    except AccountError as exc:
        raise CliError(str(exc)) from None
    typer.echo(_("{kind} address of {name}:").format(kind=view.kind, name=view.organization))
    typer.echo(view.written)


@app.command()
def addresses(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The organization's name.")],
    as_json: JsonOption = False,
) -> None:
    """List an organization's addresses, each as its country writes it."""
    context = cli_context(ctx)
    context.require_migrated(ZoneService(context.application).home)
    try:
        found = DirectoryService(context.application).addresses(name)
    except AccountError as exc:
        raise CliError(str(exc)) from None
    rows = [view.as_json() for view in found]
    print_rows(_("addresses of {name}").format(name=name), rows, ["kind", "formatted"], as_json)


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
