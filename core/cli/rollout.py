"""``regiocrm rollout``: is a market ready to go live, and if not, what is missing."""

from __future__ import annotations

from typing import Annotated

import typer

from regiocrm.cli.context import CliError, JsonOption, cli_context, print_json, print_table
from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.packs import PackError
from regiocrm.interfaces.rollout import Outcome
from regiocrm.platform.i18n import _
from regiocrm.services.rollout import NoMarkets, RolloutService

app = typer.Typer(help="Check a market's readiness to go live.", no_args_is_help=True)


@app.command()
def check(
    ctx: typer.Context,
    market: Annotated[
        list[str] | None,
        typer.Option(
            "--market",
            help="A market to check (repeatable); default: the deployment's own and those of"
            " its channel accounts.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run every rollout check (the core's, the packs' and the plugins'): each passes,
    warns or fails with the reason and the fix. Exit 1 when any fails."""
    try:
        findings = RolloutService(cli_context(ctx).hooks).check(market or ())
    except PackError as exc:
        raise CliError(str(exc)) from None
    except NoMarkets:
        raise CliError(
            _("the settings are invalid: name the markets to check with --market")
        ) from None
    if as_json:
        print_json(
            [
                {"market": code, **finding.as_dict()}
                for code, found in findings.items()
                for finding in found
            ]
        )
    else:
        print_table(
            _("rollout"),
            ["market", "check", "outcome", "reason", "fix"],
            [
                [code, f.check, f.outcome.value, f.reason, f.fix]
                for code, found in findings.items()
                for f in found
            ],
        )
    failed = [f for found in findings.values() for f in found if f.outcome is Outcome.FAIL]
    if failed:
        raise typer.Exit(1)


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="rollout")
