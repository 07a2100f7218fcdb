"""``regiocrm residency``: where each market's data lives, what sits where it should not,
moving it when a rule changes, and the transfer assessments exports rest on."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import typer

from regiocrm.cli.context import (
    CliContext,
    CliError,
    JsonOption,
    cli_context,
    print_json,
    print_rows,
    print_table,
    progress,
)
from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.packs import PackError
from regiocrm.platform.i18n import _
from regiocrm.residency.relocation import DEFAULT_BATCH, MigrationError
from regiocrm.residency.rules import ResidencyError
from regiocrm.services.residency import (
    AssessmentError,
    MoveView,
    NewAssessment,
    ResidencyService,
)
from regiocrm.services.zones import ZoneError, ZoneService

app = typer.Typer(
    help="See where each market's data lives, report what is misplaced, move it.",
    no_args_is_help=True,
)
assessments = typer.Typer(
    help="Record and list approved transfer assessments (what exports rest on).",
    no_args_is_help=True,
)
app.add_typer(assessments, name="assessments")

MarketOption = Annotated[
    str | None, typer.Option("--market", help="Only this market (ISO 3166-1 alpha-2).")
]


@app.command()
def show(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every market's data classes: the zone each is placed in and the zones allowed."""
    placements = ResidencyService(cli_context(ctx).application).placements()
    rows = [placement.as_json() for placement in placements]
    if as_json:
        print_json(rows)
        return
    columns = ["market", "data_class", "zone", "allowed", "export_requires", "pack"]
    print_rows(
        _("residency"),
        [
            {
                **row,
                "allowed": ", ".join(row["allowed"]),
                "export_requires": ", ".join(row["export_requires"]) or "-",
            }
            for row in rows
        ],
        columns,
        False,
    )


@app.command()
def report(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Rows per zone, market and data class, and any that sit where today's placement does
    not put them; exit 1 when something is misplaced or a zone cannot be read."""
    found = ResidencyService(cli_context(ctx).application).report()
    zones = [zone.as_json() for zone in found.zones]
    misplaced, unreachable = found.misplaced_rows, found.unreachable_zones
    if as_json:
        print_json({"zones": zones, "misplaced_rows": misplaced, "unreachable_zones": unreachable})
    else:
        print_table(
            _("residency report"),
            ["zone", "market", "data_class", "rows", "placed in", "status"],
            [
                [zone["zone"], e["market"], e["data_class"], e["rows"], e["placement"], e["status"]]
                for zone in zones
                for e in zone["holdings"]
            ],
        )
        for zone in zones:
            if not zone["reachable"]:
                typer.echo(
                    _("zone {zone} is unreachable: {error}").format(
                        zone=zone["zone"], error=zone["error"]
                    ),
                    err=True,
                )
        if misplaced:
            typer.echo(
                _(
                    "rows not where they are placed: {rows}; run `regiocrm residency migrate`"
                ).format(rows=misplaced),
                err=True,
            )
    if misplaced or unreachable:
        raise typer.Exit(1)


@app.command()
def migrate(
    ctx: typer.Context,
    market: MarketOption = None,
    data_class: Annotated[
        str | None,
        typer.Option(
            "--class",
            help="Only this data class (identity, crm, financial, telematics, audit, or one"
            " a plugin's entities bring), directory or export.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would move; move nothing.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Rows copied, verified and removed at once.")
    ] = DEFAULT_BATCH,
    as_json: JsonOption = False,
) -> None:
    """Move every row that is not in its placement to it, verified batch by batch.

    Safe to stop and run again: a batch is removed from its source only once its copy
    reads back identical, and a second run moves nothing that is already in place.
    """
    residency = ResidencyService(cli_context(ctx).application)
    if data_class is not None and data_class not in residency.report_classes:
        raise CliError(
            _("--class: {value!r} is not one of {known}").format(
                value=data_class, known=", ".join(residency.report_classes)
            )
        )
    try:
        planned = residency.plan(market=market, data_class=data_class)
    except ZoneError as exc:
        raise CliError(str(exc)) from None
    moves = list(planned.moves)
    if dry_run or not moves:
        if as_json:
            print_json({"dry_run": dry_run, "moves": [move.as_json() for move in moves]})
        else:
            _print_moves(moves)
        return
    with progress() as bar:
        task = bar.add_task(_("moving rows"), total=planned.rows)

        def advance(move: MoveView, rows: int) -> None:
            bar.update(
                task,
                advance=rows,
                description=_("moving {table} of {market} to {zone}").format(
                    table=move.table, market=move.market, zone=move.target
                ),
            )

        try:
            done = residency.migrate(planned, batch_size=batch_size, on_batch=advance)
        except (ZoneError, MigrationError, ResidencyError) as exc:
            raise CliError(str(exc)) from None
    conflicts = [row for moved in done for row in moved.conflicts]
    if as_json:
        print_json({"dry_run": False, "moved": [moved.as_json() for moved in done]})
    else:
        print_table(
            _("moved"),
            ["table", "market", "from", "to", "rows", "checksum"],
            [
                [
                    m.move.table,
                    m.move.market,
                    m.move.source,
                    m.move.target,
                    m.rows,
                    m.checksum[:16],
                ]
                for m in done
            ],
        )
        for moved in done:
            for row in moved.conflicts:
                typer.echo(
                    _(
                        "{table} {row} stays in {zone}: zone {target} holds another row with"
                        " the same unique key"
                    ).format(
                        table=moved.move.table,
                        row=row,
                        zone=moved.move.source,
                        target=moved.move.target,
                    ),
                    err=True,
                )
    if conflicts:
        raise typer.Exit(1)


def _print_moves(moves: list[MoveView]) -> None:
    if not moves:
        typer.echo(_("every row is where it is placed: nothing to move"))
        return
    print_table(
        _("to move"),
        ["table", "data_class", "market", "from", "to", "rows", "status"],
        [[m.table, m.data_class, m.market, m.source, m.target, m.rows, m.status] for m in moves],
    )


@assessments.command("add")
def add_assessment(
    ctx: typer.Context,
    market: Annotated[str, typer.Option(help="The market whose data may go (e.g. CN).")],
    data_class: Annotated[
        list[str], typer.Option("--class", help="A data class it covers (repeatable).")
    ],
    to: Annotated[
        str, typer.Option("--to", help="The destination: a zone, 'file', or '*' for any.")
    ],
    reference: Annotated[str, typer.Option(help="The authority's or the DPO's reference.")],
    approved: Annotated[
        str | None, typer.Option(help="The day it was approved, YYYY-MM-DD; default today.")
    ] = None,
    expires: Annotated[
        str | None, typer.Option(help="The last day it is valid, YYYY-MM-DD; default never.")
    ] = None,
) -> None:
    """Record an approved transfer assessment (a CAC security assessment or standard
    contract, a PIPC certification…) that exports of these classes may rest on."""
    context = cli_context(ctx)
    residency = ResidencyService(context.application)
    for value in data_class:
        if value not in residency.data_classes:
            raise CliError(
                _("--class: {value!r} is not one of {known}").format(
                    value=value, known=", ".join(residency.data_classes)
                )
            )
    _served(context, market)
    if to not in residency.destinations:
        raise CliError(
            _("--to: {value!r} is not a zone ({zones}), 'file' or '*'").format(
                value=to, zones=", ".join(ZoneService(context.application).names)
            )
        )
    approved_on = _day("--approved", approved) if approved else datetime.now(UTC).date()
    expires_on = _day("--expires", expires) if expires else None
    if expires_on is not None and expires_on < approved_on:
        raise CliError(_("--expires is before --approved: the date range is backwards"))
    if not reference.strip():
        raise CliError(_("--reference is empty"))
    context.require_migrated()
    new = NewAssessment(market, tuple(data_class), to, reference, approved_on, expires_on)
    try:
        recorded = residency.record_assessment(new)
    except (PackError, AssessmentError) as exc:
        raise CliError(str(exc)) from None
    typer.echo(
        _("recorded assessment {reference} for {market} {classes} to {to}").format(
            reference=reference.strip(),
            market=market,
            classes=", ".join(assessment.data_class for assessment in recorded),
            to=to,
        )
    )


@assessments.command("list")
def list_assessments(
    ctx: typer.Context, market: MarketOption = None, as_json: JsonOption = False
) -> None:
    """Every recorded transfer assessment, and whether it is valid today."""
    context = cli_context(ctx)
    context.require_migrated(ZoneService(context.application).home)
    found = ResidencyService(context.application).assessments(market=market)
    rows = [assessment.as_json() for assessment in found]
    columns = [
        "market",
        "data_class",
        "destination",
        "reference",
        "approved_on",
        "expires_on",
        "valid",
    ]
    print_rows(_("transfer assessments"), rows, columns, as_json)


def _served(context: CliContext, market: str) -> None:
    try:
        context.hooks.packs().for_market(market)
    except PackError as exc:
        raise CliError(str(exc)) from None


def _day(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CliError(
            _("{option}: {value!r} is not a date (YYYY-MM-DD)").format(option=option, value=value)
        ) from None


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="residency")
