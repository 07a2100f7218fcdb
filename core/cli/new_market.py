"""``regiocrm new-market``: scaffold a new market's pack from the regional template."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from regiocrm.cli.context import CliError, cli_context
from regiocrm.hookspecs import hookimpl
from regiocrm.markets.scaffold import (
    KEYS,
    ScaffoldError,
    context,
    market_values,
    problems,
)
from regiocrm.markets.tracking import Origin, TrackingError, recorded_context, template_folder
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import _


def new_market(
    ctx: typer.Context,
    values: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[KEY=VALUE]...",
            help=f"Values for the template: {', '.join(KEYS)}. Given only country_code, the"
            " others default to what CLDR and ISO 3166 say of the country.",
            show_default=False,
        ),
    ] = None,
    no_input: Annotated[
        bool, typer.Option("--no-input", help="Ask nothing: the values given and the defaults.")
    ] = False,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Where the project's folder is made.")
    ] = Path("."),
    template_source: Annotated[
        str | None,
        typer.Option(
            "--template",
            help="The template: a folder or a git repository (path or URL); default: the one"
            " shipped in regiocrm. The market records it, to follow it with `regiocrm market"
            " update`.",
            show_default=False,
        ),
    ] = None,
    checkout: Annotated[
        str | None,
        typer.Option(help="A branch, tag or commit of the template's repository (default: HEAD)."),
    ] = None,
    directory: Annotated[
        str | None,
        typer.Option(help="The template's folder inside a repository given by URL."),
    ] = None,
) -> None:
    """Scaffold a new market: a pack distribution that installs, registers itself through its
    entry point and passes its own tests, then `regiocrm rollout check` says what it lacks.

    Example: regiocrm new-market --no-input country_code=TH -o markets
    """
    hooks = cli_context(ctx).hooks
    given = _parse(values or [])
    code = given.get("country_code")
    if code is None:
        if no_input:
            raise CliError(_("country_code is needed: e.g. country_code=TH"))
        code = typer.prompt(_("country_code (ISO 3166-1 alpha-2)"))
    try:
        chosen = market_values({**given, "country_code": code}, hooks)
    except ScaffoldError as exc:
        raise CliError(str(exc)) from None
    project = output_dir / f"regiocrm-market-{chosen['country_code'].lower()}"
    if project.exists():
        raise CliError(_("{path} exists already: choose another --output-dir").format(path=project))
    if no_input and (found := problems(chosen, hooks)):
        raise CliError("\n".join(found))
    try:
        with template_folder(template_source, directory, checkout) as (folder, origin):
            made = _generate(folder, origin, project, chosen, given, no_input, hooks)
    except TrackingError as exc:
        raise CliError(str(exc)) from None
    typer.echo(_("created {path}").format(path=made))
    typer.echo(
        _("next: pip install -e {path}, then `regiocrm rollout check --market {market}`").format(
            path=made, market=chosen["country_code"]
        )
    )


def _generate(
    folder: Path,
    origin: Origin,
    project: Path,
    chosen: dict[str, str],
    given: dict[str, str],
    no_input: bool,
    hooks: Hooks,
) -> Path:
    """The market made from the template in ``folder``, with its ``.cruft.json``."""
    # Imported here: cookiecutter brings requests and its charset tables (0.2 s), which every
    # other command would pay for at start-up.
    from cookiecutter.exceptions import CookiecutterException, FailedHookException
    from cookiecutter.main import cookiecutter

    with tempfile.TemporaryDirectory() as scratch:
        # cookiecutter writes replay files and caches under the user's home unless told.
        config = Path(scratch) / "cookiecutter.yaml"
        config.write_text(f"cookiecutters_dir: {scratch}/templates\nreplay_dir: {scratch}/replay\n")
        try:
            made = cookiecutter(
                str(folder),
                no_input=no_input,
                # A person answering is shown each default as the template derives it from
                # their answers so far; without a person, the values checked above.
                extra_context=(
                    context(chosen, hooks)
                    if no_input
                    else {**given, "country_code": chosen["country_code"]}
                ),
                output_dir=str(project.parent),
                config_file=str(config),
            )
        except FailedHookException:
            raise CliError(
                _("the values cannot make a market (see above); nothing was generated")
            ) from None
        except CookiecutterException as exc:
            raise CliError(str(exc)) from None
        except OSError as exc:
            # cookiecutter wraps the system's reason in a message of its own.
            cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
            raise CliError(
                _("cannot write {path}: {reason}").format(
                    path=project, reason=cause.strerror or str(cause)
                )
            ) from None
        [replay] = (Path(scratch) / "replay").glob("*.json")
        answered = json.loads(replay.read_text(encoding="utf-8"))["cookiecutter"]
    made_in = Path(made)
    origin.state(recorded_context(answered)).write(made_in)
    return made_in


def _parse(values: list[str]) -> dict[str, str]:
    parsed = {}
    for value in values:
        key, separator, text = value.partition("=")
        if not separator:
            raise CliError(_("{value!r} is not KEY=VALUE").format(value=value))
        if key not in KEYS:
            raise CliError(
                _("unknown key {key!r}: use {known}").format(key=key, known=", ".join(KEYS))
            )
        parsed[key] = text.strip()
    return parsed


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.command("new-market")(new_market)
