"""``regiocrm import``: dealers' customers, vehicles and contracts from CSV or XLSX files."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

from regiocrm.cli.context import CliError, JsonOption, cli_context, print_json, progress
from regiocrm.crm.accounts import UnknownOrganization
from regiocrm.crm.import_files import MappingError, UnreadableFile, read_mapping
from regiocrm.crm.imports import (
    BATCH_ROWS,
    ImportFailed,
    ImportReport,
    ImportRequest,
    rejects_file_name,
    write_rejects,
)
from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.packs import PackError
from regiocrm.platform.i18n import _
from regiocrm.services.imports import ImportService

HELP = """Import dealers' files: CSV (UTF-8, GB18030, Shift_JIS, CP949…) or XLSX.

Columns are recognised by the market pack's presets for its dealers' headers (姓名, 手机,
氏名, 電話番号, 이름, 휴대폰, Phone…); a mapping file (--mapping) names others. Rows match
existing customers by phone, e-mail, VIN or the dealer's customer number. Importing the
same file again goes on where a cut-short run stopped and creates nothing twice.
"""

app = typer.Typer(help=HELP, no_args_is_help=True)

# How many problem rows the summary shows; the rejects file and --json have every one.
SHOWN = 20

File = Annotated[
    Path,
    typer.Argument(metavar="FILE", help="The CSV or XLSX file; its first row names the columns."),
]
Market = Annotated[
    str,
    typer.Option(
        "--market",
        help="The market the rows belong to (CN, JP, KR, AU…): its pack's"
        " presets, phone numbering and residency apply.",
    ),
]
Org = Annotated[
    str,
    typer.Option(
        "--org",
        help="The organization (dealer) importing: customer numbers are its"
        " own, and what it imports is linked to it.",
    ),
]
Mapping = Annotated[
    Path | None,
    typer.Option(
        "--mapping",
        metavar="MAP.toml",
        help="Columns the presets do not know: a \\[columns] table of header = field"
        ' ("" leaves a column out).',
    ),
]
Encoding = Annotated[
    str | None,
    typer.Option(
        "--encoding",
        help="The CSV's encoding (utf-8, gb18030, cp932, cp949…); default: UTF-8 if it"
        " reads as such, else the market's usual one.",
    ),
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Read and match every row, report, write nothing.")
]
Rejects = Annotated[
    Path | None,
    typer.Option(
        "--rejects",
        help="Where to write the rejected rows (UTF-8 with BOM, as Excel opens it), with a"
        " reason column; default: FILE.rejects.csv beside the file.",
    ),
]
BatchRows = Annotated[
    int,
    typer.Option(
        "--batch-rows",
        min=1,
        max=50_000,
        help="Rows per transaction: each batch is committed with the checkpoint a rerun"
        " goes on from.",
    ),
]


def _run(
    ctx: typer.Context,
    kind: str,
    file: Path,
    market: str,
    org: str,
    mapping: Path | None,
    encoding: str | None,
    dry_run: bool,
    rejects: Path | None,
    batch_rows: int,
    as_json: bool,
) -> None:
    context = cli_context(ctx)
    market = market.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", market):
        raise CliError(
            _("{market!r} is not a market: give its ISO 3166 code (CN, JP…)").format(market=market)
        )
    if not file.is_file():
        raise CliError(_("{path} is not a file").format(path=file))
    try:
        overrides = read_mapping(mapping) if mapping is not None else {}
    except MappingError as exc:
        raise CliError(str(exc)) from None
    context.require_migrated()

    def request(organization_id: uuid.UUID) -> ImportRequest:
        return ImportRequest(
            kind=kind,
            path=file,
            market=market,
            organization_id=organization_id,
            mapping=overrides,
            encoding=encoding,
            batch_rows=batch_rows,
        )

    service = ImportService(context.application)
    bar = progress()
    bar.columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with bar:
            task = bar.add_task(_("importing {file}").format(file=file.name), total=None)
            report = service.run_as_operator(
                org,
                request,
                dry_run=dry_run,
                progress=lambda rows: bar.update(task, completed=rows),
            )
    except (UnknownOrganization, UnreadableFile, MappingError, PackError) as exc:
        raise CliError(str(exc)) from None
    except ImportFailed as exc:
        typer.echo(
            _("Error: the import stopped: {error}; run the same command again to go on").format(
                error=exc
            ),
            err=True,
        )
        raise typer.Exit(1) from None
    written = None
    if report.rejected and not dry_run:
        written = rejects or rejects_file_name(file)
        try:
            with written.open("w", encoding="utf-8-sig", newline="") as stream:
                write_rejects(stream, report.header, report.issues)
        except OSError as exc:
            raise CliError(
                _("cannot write the rejected rows to {path}: {error}").format(
                    path=written, error=exc.strerror
                )
            ) from None
    if as_json:
        print_json({**report.as_dict(), "rejects_file": None if written is None else str(written)})
        return
    _summary(report, written)


def _summary(report: ImportReport, written: Path | None) -> None:
    counts = report.counts
    if report.dry_run:
        head = _("dry run, nothing written: {file} ({encoding}), {rows} rows")
    elif report.resumed_after and report.resumed_after >= report.rows:
        head = _("{file} was imported before: nothing new")
    elif report.resumed_after:
        head = _("imported {file} ({encoding}), going on after row {line}")
    else:
        head = _("imported {file} ({encoding}), {rows} rows")
    typer.echo(
        head.format(
            file=report.file_name,
            encoding=report.encoding,
            rows=report.rows,
            line=report.resumed_after,
        )
    )
    typer.echo(
        _(
            "{created} created, {matched} matched, {merged} merged, {conflicts} conflicts,"
            " {rejected} rejected"
        ).format(**{name: counts.get(name, 0) for name in counts})
    )
    for warning in report.warnings:
        typer.echo(_("warning: {warning}").format(warning=warning))
    for issue in report.issues[:SHOWN]:
        outcome = _("conflict") if issue.outcome == "conflict" else _("rejected")
        typer.echo(
            _("row {line}: {outcome}: {reason}").format(
                line=issue.line, outcome=outcome, reason=issue.reason
            )
        )
    if len(report.issues) > SHOWN:
        typer.echo(
            _("… and {count} more (--json lists every one)").format(
                count=len(report.issues) - SHOWN
            )
        )
    if written is not None:
        typer.echo(
            _(
                "rejected rows written to {path} (UTF-8 with BOM): fix them and import that file"
            ).format(path=written)
        )


# Each kind's command: what its file holds, shown by ``--help``.
KINDS = {
    "customers": "Import customers: a name (or company), and a phone, e-mail or customer number.",
    "vehicles": "Import vehicles and who owns them: a VIN (chassis number in JP), and the"
    " owner's phone, e-mail or customer number; make, model, year and purchase date if given.",
    "contracts": "Import contracts: type (sales, lease, financing, service), contract number,"
    " start date and the customer's phone, e-mail or customer number; status, end, amount,"
    " currency and VIN if given.",
}


def _command(kind: str) -> Callable[..., None]:
    """``regiocrm import KIND``: the three kinds take the same options."""

    def command(
        ctx: typer.Context,
        file: File,
        market: Market,
        org: Org,
        mapping: Mapping = None,
        encoding: Encoding = None,
        dry_run: DryRun = False,
        rejects: Rejects = None,
        batch_rows: BatchRows = BATCH_ROWS,
        as_json: JsonOption = False,
    ) -> None:
        _run(ctx, kind, file, market, org, mapping, encoding, dry_run, rejects, batch_rows, as_json)

    command.__doc__ = KINDS[kind]
    return command


for _kind in KINDS:
    app.command(name=_kind)(_command(_kind))


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="import")
