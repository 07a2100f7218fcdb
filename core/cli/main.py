"""The ``regiocrm`` entry point: builds the command tree from the plugins, then runs it."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from regiocrm import __version__
from regiocrm.cli.context import CliContext, CliError
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import _, process_locale, use_locale
from regiocrm.platform.plugins import PluginError, get_plugin_manager

HELP = """regiocrm: one CRM core for every market, adapted by country packs.

Settings come from REGIOCRM_* variables, .env and regiocrm.toml (or $REGIOCRM_CONFIG).
"""


class AlphabeticalGroup(TyperGroup):
    """Lists commands by name: plugins register them in no order a reader could guess."""

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(super().list_commands(ctx))


def build_cli(hooks: Hooks) -> typer.Typer:
    """The root command with every plugin's commands added through ``register_commands``."""
    cli = typer.Typer(
        name="regiocrm",
        cls=AlphabeticalGroup,
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    def show_version(value: bool) -> None:
        if value:
            typer.echo(f"regiocrm {__version__}")
            raise typer.Exit()

    @cli.callback()
    def root(
        ctx: typer.Context,
        version: bool = typer.Option(
            False, "--version", callback=show_version, is_eager=True, help="Print the version."
        ),
    ) -> None:
        context = CliContext(hooks)
        ctx.obj = context
        ctx.call_on_close(context.close)

    hooks.add_commands(cli=cli)
    return cli


def main(argv: Sequence[str] | None = None, *, hooks: Hooks | None = None) -> int:
    """Run the CLI and return its exit code (2 for any problem the user can fix).

    :param argv: the arguments; default ``sys.argv[1:]``.
    :param hooks: the plugins to use; default every built-in and installed plugin.
    """
    if hooks is None:
        try:
            hooks = Hooks(get_plugin_manager())
        except PluginError as exc:
            with use_locale(process_locale()):
                typer.echo(_("Error: {message}").format(message=exc), err=True)
            return 2
    folders = hooks.catalog_folders().values()
    with use_locale(process_locale(folders), folders):
        return _run(build_cli(hooks), argv)


def _run(cli: typer.Typer, argv: Sequence[str] | None) -> int:
    command = typer.main.get_command(cli)
    try:
        result = command.main(
            args=list(sys.argv[1:] if argv is None else argv),
            prog_name="regiocrm",
            standalone_mode=False,
        )
    except CliError as exc:
        for problem in exc.message.splitlines() or [""]:
            typer.echo(_("Error: {message}").format(message=problem), err=True)
        return exc.exit_code
    except typer.TyperException as exc:
        # Typer's own usage errors know how to show the usage line with the error.
        exc.show()  # type: ignore[attr-defined]
        return exc.exit_code
    except typer.Abort:
        typer.echo(_("Aborted."), err=True)
        return 1
    return result if isinstance(result, int) else 0


def run() -> None:  # pragma: no cover - the console script
    sys.exit(main())
