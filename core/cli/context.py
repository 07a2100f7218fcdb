"""What every command shares: the hooks, and the settings and application opened on first
need."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import _
from regiocrm.platform.settings import RegiocrmSettings, SettingsError, load_settings
from regiocrm.residency.rules import ResidencyConfigError
from regiocrm.services.application import Application
from regiocrm.services.zones import ZoneService


class CliError(typer.TyperException):
    """A problem the user can fix: printed as one ``Error:`` line per problem, exit code 2."""

    exit_code = 2


@dataclass
class CliContext:
    hooks: Hooks
    _settings: RegiocrmSettings | None = field(default=None, repr=False)
    _application: Application | None = field(default=None, repr=False)

    @property
    def settings(self) -> RegiocrmSettings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.hooks)
            except SettingsError as exc:
                raise CliError(str(exc)) from None
        return self._settings

    @property
    def application(self) -> Application:
        """The deployment's application, opened on first need (its inbox worker is not
        started: commands do their work themselves)."""
        if self._application is None:
            try:
                self._application = Application.open(self.settings, self.hooks)
            except ResidencyConfigError as exc:
                raise CliError(str(exc)) from None
        return self._application

    def require_migrated(self, zone: str | None = None) -> None:
        """Stop with the fix when the zone (every zone by default) cannot be used yet."""
        for state in ZoneService(self.application).states(None if zone is None else [zone]):
            if not state.reachable:
                raise CliError(
                    _("zone {zone!r} is unreachable: {error}").format(
                        zone=state.zone, error=state.error
                    )
                )
            if not state.migrated:
                raise CliError(
                    _("zone {zone!r} is not migrated to head: run `regiocrm db upgrade`").format(
                        zone=state.zone
                    )
                )

    def close(self) -> None:
        if self._application is not None:
            self._application.close()


def cli_context(ctx: typer.Context) -> CliContext:
    obj = ctx.find_object(CliContext)
    if obj is None:  # pragma: no cover - the root callback always sets it
        raise RuntimeError("regiocrm commands run under the regiocrm root command")
    return obj


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for tools.")]


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def progress() -> Progress:
    """A progress display on standard error, shown only to a person at a terminal."""
    console = Console(stderr=True)
    return Progress(console=console, transient=True, disable=not console.is_terminal)


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        # Cells are data: "[maps.google]" in a fix is text to show, not rich markup.
        table.add_row(*("" if cell is None else escape(str(cell)) for cell in row))
    Console().print(table)


def print_rows(title: str, rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    """A listing: every field as JSON for tools, or the chosen columns as a table for people."""
    if as_json:
        print_json(rows)
    else:
        print_table(title, columns, [[row[column] for column in columns] for row in rows])
