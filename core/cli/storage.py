"""``regiocrm storage report``: storage by organization and tier, and when quotas run out."""

from __future__ import annotations

from datetime import date

import typer

from regiocrm.cli.context import JsonOption, cli_context, print_json, print_table
from regiocrm.hookspecs import hookimpl
from regiocrm.platform.i18n import _
from regiocrm.services.storage import StorageForecast, StorageService

app = typer.Typer(
    help="Storage by organization, and when each quota runs out.", no_args_is_help=True
)


@app.command()
def report(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Each organization's storage (MiB, by data class) against its licence tier's quota,
    its growth a day over the recent window, and the day the quota runs out at that growth;
    the soonest first."""
    context = cli_context(ctx)
    context.require_migrated()
    report = StorageService(context.application).report()
    if as_json:
        print_json([forecast.as_json() for forecast in report.forecasts])
        return
    print_table(
        _("storage"),
        ["organization", "tier", "quota MiB", "used MiB", "MiB/day", "fastest", "runs out"],
        [
            [
                forecast.organization,
                forecast.tier,
                "-" if forecast.quota_mib is None else f"{forecast.quota_mib:,.0f}",
                f"{forecast.used_mib:,.1f}",
                f"{forecast.growth_mib_per_day:,.2f}",
                forecast.fastest_growing or "-",
                _runs_out(forecast, report.horizon),
            ]
            for forecast in report.forecasts
        ],
    )


def _runs_out(forecast: StorageForecast, horizon: date) -> str:
    if forecast.quota_mib is None:
        return "-"
    if forecast.runs_out_on is not None:
        return forecast.runs_out_on.isoformat()
    if forecast.growing:
        return f"> {horizon}"
    return _("not growing")


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="storage")
