"""``regiocrm analytics export``: the deployment's data as Parquet for DuckDB, Spark or Trino."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress as Bar
from rich.progress import TaskID

from regiocrm.cli.context import CliError, JsonOption, cli_context, print_json, print_table
from regiocrm.cli.context import progress as progress_bar
from regiocrm.hookspecs import hookimpl
from regiocrm.platform.i18n import _
from regiocrm.residency.analytics import AnalyticsError, AnalyticsRefused
from regiocrm.services.analytics import AnalyticsService

app = typer.Typer(
    help="Export the deployment's data for analysis (Parquet, pseudonymised).",
    no_args_is_help=True,
)


class _Shown:
    """The export's progress on a rich bar: rows written of the rows to write."""

    def __init__(self, bar: Bar) -> None:
        self.bar = bar
        self.task: TaskID | None = None

    def started(self, total_rows: int) -> None:
        self.task = self.bar.add_task(_("exporting rows"), total=total_rows)

    def wrote(self, rows: int, zone: str, table: str) -> None:
        if self.task is not None:
            self.bar.update(
                self.task,
                advance=rows,
                description=_("exporting {table} of zone {zone}").format(table=table, zone=zone),
            )


@app.command()
def export(
    ctx: typer.Context,
    to: Annotated[
        Path,
        typer.Option(
            "--to",
            metavar="DIR",
            help="The folder to write into (made if missing): new, empty, or an earlier"
            " analytics export made the same way.",
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DATE",
            help="Export only the days (UTC, by when rows were created) from this one on"
            " (YYYY-MM-DD), rewriting them; earlier days' files are kept.",
        ),
    ] = None,
    with_personal_data: Annotated[
        bool,
        typer.Option(
            "--with-personal-data",
            help="Keep names, identities, addresses and texts, and ids in clear: only where"
            " the residency rules let the data leave as a file (the rules of `regiocrm"
            " export customer`), else refused, naming what is missing.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Write every table of every zone as Parquet, one file per zone, table and day:
    DIR/zone=Z/table=T/day=YYYY-MM-DD/part-0.parquet (hive partitions).

    By default the export is pseudonymised: personal columns (names, phone numbers,
    e-mails, addresses, message texts) are left out, and ids and other person keys are
    keyed hashes (HMAC-SHA256 with \\[analytics] pseudonym_key), the same in every export.
    Credentials never leave. The export is audited in every market's trail.
    """
    context = cli_context(ctx)
    day = None
    if since is not None:
        try:
            day = date.fromisoformat(since)
        except ValueError:
            raise CliError(
                _("--since {value!r} is not a date (YYYY-MM-DD)").format(value=since)
            ) from None
    context.require_migrated()
    analytics = AnalyticsService(context.application)
    with progress_bar() as bar:
        try:
            made = analytics.export_as_operator(
                to, since=day, with_personal_data=with_personal_data, progress=_Shown(bar)
            )
        except AnalyticsRefused as exc:
            raise CliError("\n".join(exc.missing)) from None
        except AnalyticsError as exc:
            raise CliError(str(exc)) from None
    summary = made.as_dict()
    if as_json:
        print_json(summary)
        return
    print_table(
        _("analytics export"),
        ["zone", "table", "rows"],
        [
            [zone, table, count]
            for zone, tables in made.rows.items()
            for table, count in tables.items()
            if count
        ],
    )
    typer.echo(
        _("wrote {files} files ({rows} rows) to {path}{how}").format(
            files=len(made.files),
            rows=summary["total_rows"],
            path=made.destination,
            how=_(", with personal data") if with_personal_data else _(", pseudonymised"),
        )
    )


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="analytics")
