"""``regiocrm campaigns``: plan, preview, launch and follow campaigns."""

from __future__ import annotations

import json
import tomllib
import uuid
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from pydantic import ValidationError

from regiocrm.cli.context import CliContext, CliError, JsonOption, cli_context, print_json, progress
from regiocrm.crm.accounts import organization_named
from regiocrm.crm.campaigns import CampaignError, Campaigns, Launcher, Results
from regiocrm.crm.segments import SegmentError
from regiocrm.hookspecs import hookimpl
from regiocrm.http.campaigns import CampaignIn, campaign_json
from regiocrm.interfaces.channels import PROVIDER_TIMEOUT
from regiocrm.models import Campaign
from regiocrm.platform.i18n import _
from regiocrm.platform.stores import ZonedSession
from regiocrm.residency.rules import ApartError

app = typer.Typer(help="Plan, preview, launch and follow campaigns.", no_args_is_help=True)

CampaignId = Annotated[str, typer.Argument(metavar="ID", help="The campaign's id.")]


def _id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CliError(_("{value!r} is not a campaign id").format(value=value)) from None


def _campaign(session: ZonedSession, campaigns: Campaigns, value: str) -> Campaign:
    try:
        return campaigns.get(_id(value))
    except CampaignError as exc:
        raise CliError(str(exc)) from None


def _campaigns(context: CliContext, session: ZonedSession) -> Campaigns:
    return Campaigns(session, context.hooks, context.hooks.channel_registry(context.settings))


def _read_plan(path: Path) -> CampaignIn:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(_("cannot read {path}: {error}").format(path=path, error=exc)) from None
    try:
        data: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        return CampaignIn.model_validate(data)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise CliError(_("{path} is not valid: {error}").format(path=path, error=exc)) from None
    except RecursionError:
        raise CliError(
            _("{path} is not valid: {error}").format(path=path, error=_("nested too deeply"))
        ) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors()
        )
        raise CliError(f"{path}: {problems}") from None


@app.command()
def plan(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="The campaign, as JSON or TOML (name, segment, channels…)."
        ),
    ],
    org: Annotated[
        str | None,
        typer.Option("--org", help="The organization planning it (default: the deployment's)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Plan a campaign from a file, after checking everything its launch needs: a segment
    with known fields, channels with an account, a message for every market's default
    locale, and someone in the segment who can receive it."""
    context = cli_context(ctx)
    body = _read_plan(file)
    context.require_migrated()
    with context.stores.session() as session:
        name = org or context.settings.deployment.organization
        organization = organization_named(session, name)
        if organization is None:
            raise CliError(_("no organization named {name!r}").format(name=name))
        try:
            campaign, audience = _campaigns(context, session).plan(
                body.plan(organization.id), actor_id=None
            )
        except (SegmentError, CampaignError, ApartError) as exc:
            raise CliError(str(exc)) from None
        planned = {**campaign_json(campaign), "audience": audience.as_dict()}
    if as_json:
        print_json(planned)
        return
    typer.echo(
        _("planned {id}: {reachable} of {matched} customers reachable ({channels})").format(
            id=planned["id"],
            reachable=audience.reachable,
            matched=audience.matched,
            channels=_channels(audience.by_channel()),
        )
    )


def _channels(counts: dict[str, int]) -> str:
    return ", ".join(f"{channel} {count}" for channel, count in counts.items()) or "-"


@app.command()
def preview(ctx: typer.Context, campaign_id: CampaignId, as_json: JsonOption = False) -> None:
    """Who the campaign would reach if launched now, per market and channel, and how many
    of its segment no channel can reach (no consent, or no identity the channel knows)."""
    context = cli_context(ctx)
    context.require_migrated()
    with context.stores.session() as session:
        campaigns = _campaigns(context, session)
        campaign = _campaign(session, campaigns, campaign_id)
        try:
            audience = campaigns.preview(campaign)
        except (SegmentError, CampaignError, ApartError) as exc:
            raise CliError(str(exc)) from None
    if as_json:
        print_json(audience.as_dict())
        return
    for market, counts in audience.as_dict()["by_market"].items():
        typer.echo(
            _("{market}: {matched} in the segment, {unreachable} unreachable; {channels}").format(
                market=market,
                matched=counts["matched"],
                unreachable=counts["unreachable"],
                channels=_channels(counts["by_channel"]),
            )
        )
    typer.echo(_("reachable: {count}").format(count=audience.reachable))


@app.command()
def launch(ctx: typer.Context, campaign_id: CampaignId, as_json: JsonOption = False) -> None:
    """List the campaign's members and send each their message through the channel that
    reaches them, within each channel's rate limit, with a progress bar. Run it again after
    an interruption: it goes on where it stopped and never sends twice."""
    context = cli_context(ctx)
    context.require_migrated()
    wanted = _id(campaign_id)
    registry = context.hooks.channel_registry(context.settings)
    with httpx.Client(timeout=PROVIDER_TIMEOUT) as client, progress() as bar:
        task = bar.add_task(_("listing the members"), total=None)

        def listed(size: int) -> None:
            bar.update(task, description=_("sending"), total=size)

        def sent(done: int, size: int) -> None:
            bar.update(task, completed=done)

        launcher = Launcher(
            context.stores, context.hooks, registry, client, context.settings.campaigns
        )
        try:
            results = launcher.launch(wanted, on_listed=listed, on_sent=sent)
        except (SegmentError, CampaignError, ApartError) as exc:
            raise CliError(str(exc)) from None
    _show(results, as_json)


@app.command()
def status(ctx: typer.Context, campaign_id: CampaignId, as_json: JsonOption = False) -> None:
    """The campaign's status and its members counted by result (pending, sent, delivered,
    failed, replied) and by channel."""
    context = cli_context(ctx)
    context.require_migrated()
    with context.stores.session() as session:
        campaigns = _campaigns(context, session)
        results = campaigns.results(_campaign(session, campaigns, campaign_id))
    _show(results, as_json)


def _show(results: Results, as_json: bool) -> None:
    if as_json:
        print_json(results.as_dict())
        return
    typer.echo(
        _("{name}: {status}, {size} members").format(
            name=results.name,
            status=results.status.value,
            size="-" if results.audience_size is None else results.audience_size,
        )
    )
    for channel, counts in results.by_channel.items():
        line = ", ".join(f"{state} {count}" for state, count in counts.items())
        typer.echo(f"  {channel}: {line}")


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="campaigns")
