"""``regiocrm audit export``: what an organization's people read and changed, for an audit."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from regiocrm.cli.context import CliError, JsonOption, cli_context, progress
from regiocrm.crm.accounts import UnknownOrganization
from regiocrm.crm.audit import TrailEntry, write_csv
from regiocrm.hookspecs import hookimpl
from regiocrm.platform.files import UnwritableFile, private_file
from regiocrm.platform.i18n import _
from regiocrm.services.audit import AuditService, OrganizationView

app = typer.Typer(help="Report on the audit trail.", no_args_is_help=True)


def _day(value: str, option: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
    except ValueError:
        raise CliError(
            _("{option} {value!r} is not a date (YYYY-MM-DD)").format(option=option, value=value)
        ) from None


@app.command("export")
def export(
    ctx: typer.Context,
    org: Annotated[str, typer.Option("--org", metavar="ORG", help="The organization's name.")],
    since: Annotated[
        str, typer.Option("--since", metavar="DATE", help="First day (UTC), YYYY-MM-DD.")
    ],
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="DATE", help="Day after the last (UTC); default: now."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the report here instead of to stdout."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Every audit event by the organization's users in the period, oldest first: who (name
    and role) read or changed what, in which market, when. CSV by default, one row per
    event; with --json, one document with the period, a count per action and the events.
    The report is for a partner audit: personal values in the details (identities, reasons
    users wrote) are masked. The export is itself recorded in the audit trail."""
    start = _day(since, "--since")
    end = _day(until, "--until") if until is not None else None
    if end is not None and end <= start:
        raise CliError(
            _("--until {until} is not after --since {since}: the date range is backwards").format(
                until=until, since=since
            )
        )
    if output is not None and output.exists():
        raise CliError(_("{path} exists: choose a new file").format(path=output))
    context = cli_context(ctx)
    context.require_migrated()
    # The report takes its name once the export is recorded in the trail, and not before.
    with _opened(output) as stream:
        try:
            written = AuditService(context.application).export_as_operator(
                org, start, end, _report(stream, start, end, as_json=as_json)
            )
        except UnknownOrganization:
            raise CliError(_("no organization named {name!r}").format(name=org)) from None
    if output is not None:
        typer.echo(
            _("{count} events written to {path}").format(count=written, path=output), err=True
        )


def _report(
    stream: IO[str], start: datetime, end: datetime | None, *, as_json: bool
) -> Callable[[OrganizationView, Iterator[TrailEntry]], int]:
    """What writes the report to ``stream`` as the events are read, with a progress bar,
    and says how many it wrote."""

    def write(organization: OrganizationView, entries: Iterator[TrailEntry]) -> int:
        with progress() as bar:
            task = bar.add_task(_("reading the audit trail"), total=None)

            def counted() -> Iterator[TrailEntry]:
                for entry in entries:
                    bar.advance(task)
                    yield entry

            if as_json:
                events = [entry.as_dict() for entry in counted()]
                return _write_json(stream, organization, start, end, events)
            return write_csv(stream, counted())

    return write


@contextmanager
def _opened(output: Path | None) -> Iterator[IO[str]]:
    """The report's stream: a new file only its owner may read (it names people and what
    they did), never one overwritten, there in full or not at all; or standard output."""
    if output is None:
        yield sys.stdout
        return
    try:
        with private_file(output) as stream:
            yield stream
    except UnwritableFile as exc:
        raise CliError(str(exc)) from None


def _write_json(
    stream: IO[str],
    organization: OrganizationView,
    start: datetime,
    end: datetime | None,
    entries: list[dict[str, Any]],
) -> int:
    now = datetime.now(UTC)
    report = {
        "organization": {"id": str(organization.id), "name": organization.name},
        "since": start.isoformat(),
        "until": (end or now).isoformat(),
        "generated_at": now.isoformat(),
        "summary": dict(sorted(Counter(entry["action"] for entry in entries).items())),
        "events": entries,
    }
    json.dump(report, stream, indent=2, ensure_ascii=False)
    stream.write("\n")
    return len(entries)


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="audit")
