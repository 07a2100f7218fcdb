"""``regiocrm residency``: where each market's data lives, what sits where it should not,
moving it when a rule changes, and the transfer assessments exports rest on."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer
from sqlalchemy import select

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
from regiocrm.crm import audit
from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.packs import PackError
from regiocrm.models import DataClass, TransferAssessment
from regiocrm.models.base import utcnow
from regiocrm.platform.i18n import _
from regiocrm.platform.stores import ZoneError
from regiocrm.residency.exports import FILE
from regiocrm.residency.relocation import (
    DEFAULT_BATCH,
    Migration,
    MigrationError,
    Status,
    plan,
    survey,
)
from regiocrm.residency.rules import ResidencyError

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
    residency = cli_context(ctx).stores.residency
    rows = [
        {
            "market": market,
            "data_class": data_class.value,
            "zone": residency.placement[market, data_class],
            "allowed": list(rule.zones),
            "export_requires": list(rule.export_requires),
            "pack": rule.pack,
        }
        for (market, data_class), rule in sorted(residency.rules.items())
    ]
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
    context = cli_context(ctx)
    surveys = survey(context.stores)
    zones: list[dict[str, Any]] = []
    for zone_survey in surveys:
        grouped: dict[tuple[str, str, str | None, str], dict[str, Any]] = {}
        for holding in zone_survey.holdings:
            key = (holding.market, holding.data_class, holding.placement, holding.status.value)
            entry = grouped.setdefault(
                key,
                {
                    "market": holding.market,
                    "data_class": holding.data_class,
                    "rows": 0,
                    "placement": holding.placement,
                    "status": holding.status.value,
                    "tables": {},
                },
            )
            entry["rows"] += holding.rows
            entry["tables"][holding.table] = entry["tables"].get(holding.table, 0) + holding.rows
        zones.append(
            {
                "zone": zone_survey.zone,
                "url": zone_survey.url,
                "reachable": zone_survey.reachable,
                "error": zone_survey.error,
                "holdings": list(grouped.values()),
            }
        )
    misplaced = sum(
        entry["rows"]
        for zone in zones
        for entry in zone["holdings"]
        if entry["status"] != Status.OK.value
    )
    unreachable = [zone["zone"] for zone in zones if not zone["reachable"]]
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
            help="Only this data class: identity, crm, financial, telematics, audit,"
            " directory or export.",
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
    context = cli_context(ctx)
    if data_class is not None and data_class not in _CLASSES:
        raise CliError(
            _("--class: {value!r} is not one of {known}").format(
                value=data_class, known=", ".join(_CLASSES)
            )
        )
    try:
        moves = plan(survey(context.stores), market=market, data_class=data_class)
    except ZoneError as exc:
        raise CliError(str(exc)) from None
    if dry_run or not moves:
        if as_json:
            print_json({"dry_run": dry_run, "moves": [move.as_dict() for move in moves]})
        else:
            _print_moves(moves)
        return
    total = sum(move.rows for move in moves)
    with progress() as bar:
        task = bar.add_task(_("moving rows"), total=total)

        def advance(move: Any, rows: int) -> None:
            bar.update(
                task,
                advance=rows,
                description=_("moving {table} of {market} to {zone}").format(
                    table=move.model.__tablename__, market=move.market, zone=move.target
                ),
            )

        # The application's hooks: residency_moved hands its handlers the services.
        migration = Migration(
            context.stores, context.application.hooks, batch_size=batch_size, on_batch=advance
        )
        try:
            done = migration.run(moves)
        except (ZoneError, MigrationError, ResidencyError) as exc:
            raise CliError(str(exc)) from None
    conflicts = [row for moved in done for row in moved.conflicts]
    if as_json:
        print_json({"dry_run": False, "moved": [moved.as_dict() for moved in done]})
    else:
        print_table(
            _("moved"),
            ["table", "market", "from", "to", "rows", "checksum"],
            [
                [
                    m.move.model.__tablename__,
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
                        table=moved.move.model.__tablename__,
                        row=row,
                        zone=moved.move.source,
                        target=moved.move.target,
                    ),
                    err=True,
                )
    if conflicts:
        raise typer.Exit(1)


_CLASSES = [*(c.value for c in DataClass), "directory", "export"]


def _print_moves(moves: list[Any]) -> None:
    if not moves:
        typer.echo(_("every row is where it is placed: nothing to move"))
        return
    print_table(
        _("to move"),
        ["table", "data_class", "market", "from", "to", "rows", "status"],
        [
            [
                m.model.__tablename__,
                m.data_class,
                m.market,
                m.source,
                m.target,
                m.rows,
                m.status.value,
            ]
            for m in moves
        ],
    )


@assessments.command("add")
def add_assessment(
    ctx: typer.Context,
    market: Annotated[str, typer.Option(help="The market whose data may go (e.g. CN).")],
    data_class: Annotated[
        list[DataClass], typer.Option("--class", help="A data class it covers (repeatable).")
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
    _served(context, market)
    if to not in (*context.stores.names, FILE, "*"):
        raise CliError(
            _("--to: {value!r} is not a zone ({zones}), 'file' or '*'").format(
                value=to, zones=", ".join(context.stores.names)
            )
        )
    approved_on = _day("--approved", approved) if approved else utcnow().date()
    expires_on = _day("--expires", expires) if expires else None
    if expires_on is not None and expires_on < approved_on:
        raise CliError(_("--expires is before --approved: the date range is backwards"))
    if not reference.strip():
        raise CliError(_("--reference is empty"))
    context.require_migrated()
    with context.stores.session() as session:
        for data_class_value in dict.fromkeys(data_class):
            assessment = TransferAssessment(
                market=market,
                data_class=data_class_value,
                destination=to,
                reference=reference.strip(),
                approved_on=approved_on,
                expires_on=expires_on,
            )
            session.add(assessment)
            session.flush()
            audit.record(
                session,
                actor_id=None,
                action="assessment.recorded",
                subject_type="transfer_assessment",
                subject=assessment,
                detail={
                    "data_class": data_class_value.value,
                    "destination": to,
                    "reference": reference,
                },
            )
    typer.echo(
        _("recorded assessment {reference} for {market} {classes} to {to}").format(
            reference=reference.strip(),
            market=market,
            classes=", ".join(c.value for c in dict.fromkeys(data_class)),
            to=to,
        )
    )


@assessments.command("list")
def list_assessments(
    ctx: typer.Context, market: MarketOption = None, as_json: JsonOption = False
) -> None:
    """Every recorded transfer assessment, and whether it is valid today."""
    context = cli_context(ctx)
    context.require_migrated(context.stores.home)
    today = utcnow().date()
    query = select(TransferAssessment).order_by(TransferAssessment.market, TransferAssessment.id)
    if market is not None:
        query = query.where(TransferAssessment.market == market)
    with context.stores.session() as session:
        rows = [
            {
                "id": str(a.id),
                "market": a.market,
                "data_class": a.data_class.value,
                "destination": a.destination,
                "reference": a.reference,
                "approved_on": a.approved_on.isoformat(),
                "expires_on": None if a.expires_on is None else a.expires_on.isoformat(),
                "valid": a.approved_on <= today and (a.expires_on is None or a.expires_on >= today),
            }
            for a in session.scalars(query)
        ]
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
