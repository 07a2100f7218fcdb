"""``regiocrm storage report``: storage by organization and tier, and when quotas run out."""

from __future__ import annotations

from datetime import date, timedelta

import typer

from regiocrm.cli.context import JsonOption, cli_context, print_json, print_table
from regiocrm.hookspecs import hookimpl
from regiocrm.models.base import utcnow
from regiocrm.platform.i18n import _
from regiocrm.residency.storage import HORIZON_DAYS, Forecast, Storage

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
    today = utcnow().date()
    forecasts = Storage(context.stores, context.hooks, context.settings.storage).forecasts(today)
    rows = [forecast.as_dict(today) for forecast in forecasts]
    if as_json:
        print_json(rows)
        return
    print_table(
        _("storage"),
        ["organization", "tier", "quota MiB", "used MiB", "MiB/day", "fastest", "runs out"],
        [
            [
                row["organization"],
                row["tier"],
                "-" if row["quota_mib"] is None else f"{row['quota_mib']:,.0f}",
                f"{row['used_mib']:,.1f}",
                f"{row['growth_mib_per_day']:,.2f}",
                _fastest_growing(forecast),
                _runs_out(forecast, today),
            ]
            for forecast, row in zip(forecasts, rows, strict=True)
        ],
    )


def _fastest_growing(forecast: Forecast) -> str:
    fastest = forecast.fastest_growing
    return "-" if fastest is None else fastest.value


def _runs_out(forecast: Forecast, today: date) -> str:
    if forecast.quota_mib is None:
        return "-"
    if forecast.runs_out_on is not None:
        return forecast.runs_out_on.isoformat()
    if forecast.total_growth_mib_per_day > 0:
        return f"> {today + timedelta(days=HORIZON_DAYS)}"
    return _("not growing")


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="storage")
