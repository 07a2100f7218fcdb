"""``regiocrm packs``: the country packs, resolved, and how each differs from another."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from regiocrm.cli.context import CliError, JsonOption, cli_context, print_json, print_rows
from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.packs import PACK_CODE, Pack, PackError, PackRegistry, diff
from regiocrm.markets.pack_versions import PackVersionError, pack_at
from regiocrm.platform.i18n import _

app = typer.Typer(help="List, show and compare country packs.", no_args_is_help=True)


def _registry(ctx: typer.Context) -> PackRegistry:
    try:
        return cli_context(ctx).hooks.packs()
    except PackError as exc:
        raise CliError(str(exc)) from None


def _pack(registry: PackRegistry, code: str) -> Pack:
    try:
        return registry.get(code)
    except PackError as exc:
        raise CliError(str(exc)) from None


def _cell(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if (isinstance(value, str) and value.strip() != value) or value == "":
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


@app.command("list")
def list_packs(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every pack, resolved, with what it extends and the markets it serves."""
    rows = [pack.as_dict() for pack in _registry(ctx)]
    columns = [
        "code",
        "extends",
        "name",
        "markets",
        "locales",
        "currency",
        "channels",
        "map_providers",
    ]
    if as_json:
        print_json(rows)
        return
    print_rows(_("packs"), [{c: _cell(row[c]) for c in columns} for row in rows], columns, False)


@app.command()
def show(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="The pack's code, e.g. jp.")],
    as_json: JsonOption = False,
) -> None:
    """One pack with every value resolved through the packs it extends."""
    data = _pack(_registry(ctx), code).as_dict()
    if as_json:
        print_json(data)
        return
    rows = [{"field": name, "value": _cell(value)} for name, value in data.items()]
    print_rows(_("pack {code}").format(code=code), rows, ["field", "value"], False)


@app.command("diff")
def diff_packs(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="The pack to look at.")],
    against: Annotated[
        str | None,
        typer.Option(
            help="Compare with this pack instead of the one it extends; or, when no pack has"
            " this code, with the same pack at this branch, tag or commit: of the market's"
            " template for a generated market, else of the git repository holding the pack.",
            metavar="CODE|REF",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """What a pack changes against the pack it extends, against any other pack, or against
    itself at another version (what an update to that version would change)."""
    context = cli_context(ctx)
    registry = _registry(ctx)
    pack = _pack(registry, code)
    other_code = against or pack.extends
    if other_code is None:
        raise CliError(
            _("pack {code!r} extends no pack: compare it with --against CODE").format(code=code)
        )
    if other_code in registry.packs:
        other, label = registry.packs[other_code], other_code
    else:
        try:
            other = pack_at(context.hooks.pm, code, other_code)
        except PackVersionError as exc:
            reason = str(exc)
            if PACK_CODE.match(other_code):
                # It may have been meant as a pack: the reason a REF failed would hide that.
                reason += "\n" + _(
                    "no installed pack is called {against!r} (known: {known})"
                ).format(against=other_code, known=", ".join(sorted(registry.packs)))
            raise CliError(reason) from None
        label = f"{code}@{other_code}"
    changes = diff(pack, other)
    if as_json:
        print_json(
            {
                "pack": code,
                "against": label,
                "changes": [
                    {"field": c.field, "value": c.this, "against": c.other} for c in changes
                ],
            }
        )
        return
    rows = [{"field": c.field, code: _cell(c.this), label: _cell(c.other)} for c in changes]
    title = _("{code} against {other}").format(code=code, other=label)
    print_rows(title, rows, ["field", code, label], False)


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="packs")
