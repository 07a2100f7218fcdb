"""``regiocrm campaigns``: plan, preview, launch and follow campaigns."""

from __future__ import annotations

import json
import tomllib
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from regiocrm.cli.context import CliError, JsonOption, cli_context, print_json, progress
from regiocrm.crm.accounts import UnknownOrganization
from regiocrm.crm.campaigns import CampaignError, Results
from regiocrm.crm.segments import SegmentError
from regiocrm.hookspecs import hookimpl
from regiocrm.http.campaigns import CampaignIn
from regiocrm.platform.i18n import _
from regiocrm.residency.rules import ApartError
from regiocrm.services.campaigns import CampaignService

app = typer.Typer(help="Plan, preview, launch and follow campaigns.", no_args_is_help=True)

CampaignId = Annotated[str, typer.Argument(metavar="ID", help="The campaign's id.")]


def _id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CliError(_("{value!r} is not a campaign id").format(value=value)) from None


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
    name = org or context.settings.deployment.organization
    try:
        planned = CampaignService(context.application).plan_as_operator(name, body.draft())
    except UnknownOrganization:
        raise CliError(_("no organization named {name!r}").format(name=name)) from None
    except (SegmentError, CampaignError, ApartError) as exc:
        raise CliError(str(exc)) from None
    audience = planned.audience
    if as_json:
        print_json({**planned.campaign.as_json(), "audience": audience.as_dict()})
        return
    typer.echo(
        _("planned {id}: {reachable} of {matched} customers reachable ({channels})").format(
            id=planned.campaign.id,
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
    try:
        audience = CampaignService(context.application).preview_as_operator(_id(campaign_id))
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
    with progress() as bar:
        task = bar.add_task(_("listing the members"), total=None)

        def listed(size: int) -> None:
            bar.update(task, description=_("sending"), total=size)

        def sent(done: int, size: int) -> None:
            bar.update(task, completed=done)

        try:
            results = CampaignService(context.application).launch_as_operator(
                wanted, on_listed=listed, on_sent=sent
            )
        except (SegmentError, CampaignError, ApartError) as exc:
            raise CliError(str(exc)) from None
    _show(results, as_json)


@app.command()
def status(ctx: typer.Context, campaign_id: CampaignId, as_json: JsonOption = False) -> None:
    """The campaign's status and its members counted by result (pending, sent, delivered,
    failed, replied) and by channel."""
    context = cli_context(ctx)
    context.require_migrated()
    try:
        results = CampaignService(context.application).results_as_operator(_id(campaign_id))
    except CampaignError as exc:
        raise CliError(str(exc)) from None
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
