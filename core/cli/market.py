"""``regiocrm market``: a generated market and its template: is it behind, and bringing the
template's changes in."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from regiocrm.cli.context import CliError, JsonOption, print_json, print_table
from regiocrm.hookspecs import hookimpl
from regiocrm.markets.tracking import (
    STATE_FILE,
    Standing,
    TrackingError,
    UpdateResult,
    check,
    update,
)
from regiocrm.platform.i18n import _

app = typer.Typer(
    help="Follow the template a market was generated from: check whether it is behind, update.",
    no_args_is_help=True,
)

MarketDir = Annotated[
    Path,
    typer.Argument(help=f"The generated market's folder (holding {STATE_FILE}).", show_default="."),
]
Checkout = Annotated[
    str | None,
    typer.Option(
        help="A branch, tag or commit of the template (default: the one the market follows,"
        " or the template's HEAD)."
    ),
]


@app.command("check")
def check_market(
    project: MarketDir = Path("."), checkout: Checkout = None, as_json: JsonOption = False
) -> None:
    """Whether the market is behind its template and by what: the template's commits and
    versions since the market was made or last updated. Exit 1 when behind."""
    try:
        status = check(project, checkout)
    except TrackingError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        print_json(status.as_dict())
    else:
        typer.echo(
            _("{path}: {status} (template {template}, version {version} → {latest})").format(
                path=project,
                status=status.standing.value,
                template=status.template,
                version=status.version or "?",
                latest=status.latest_version or "?",
            )
        )
        for commit, subject in status.commits:
            typer.echo(f"  {commit[:12]} {subject}")
        for change in status.changes:
            typer.echo(f"  {change.version}: {change.summary}")
            for text in change.explanations():
                typer.echo(f"    {text}")
        if status.reason:
            typer.echo(f"  {status.reason}")
    if status.standing is Standing.BEHIND:
        raise typer.Exit(1)


@app.command("update")
def update_market(
    project: MarketDir = Path("."),
    checkout: Checkout = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the diff the update would make; change nothing."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Bring the template's changes since the market's recorded commit in, keeping the
    market's own edits (a three-way merge, file by file). Conflicts are left as conflict
    markers or .rej files and listed, with exit 1; nothing is committed, so `git diff` shows
    the update and `git checkout -- . && git clean -fd` undoes it. The market's working tree
    must be clean."""
    started = time.perf_counter()
    try:
        result = update(project, checkout, dry_run)
    except TrackingError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        print_json({**result.as_dict(), "dry_run": dry_run})
    else:
        _report(result, dry_run, time.perf_counter() - started)
    if result.conflicts:
        raise typer.Exit(1)


def _report(result: UpdateResult, dry_run: bool, seconds: float) -> None:
    if dry_run:
        typer.echo(result.diff(), nl=False)
    if result.commit == result.latest and not result.changes:
        typer.echo(_("{path}: current with its template").format(path=result.project))
        return
    if result.changes:
        print_table(
            _("template {old} → {new}").format(old=result.commit[:12], new=result.latest[:12]),
            ["file", "action", "reason"],
            [[c.path, c.action.value, c.reason] for c in result.changes],
        )
    for text in result.told:
        typer.echo(_("upgrade step: {text}").format(text=text))
    conflicts = [change.path for change in result.conflicts]
    if dry_run:
        typer.echo(_("dry run: nothing was changed"))
    elif conflicts:
        typer.echo(
            _(
                "{count} conflicts: resolve them ({files}), or undo the update with"
                " `git checkout -- . && git clean -fd`"
            ).format(count=len(conflicts), files=", ".join(conflicts)),
            err=True,
        )
    else:
        typer.echo(
            _(
                "updated {path} in {seconds:.1f} s: review with `git diff`, run the tests, commit"
            ).format(path=result.project, seconds=seconds)
        )


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="market")
