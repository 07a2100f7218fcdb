"""``regiocrm channels``: the messaging channels installed and the accounts configured."""

from __future__ import annotations

from typing import Any

import typer

from regiocrm.cli.context import JsonOption, cli_context, print_json, print_rows
from regiocrm.hookspecs import hookimpl
from regiocrm.platform.i18n import _

app = typer.Typer(help="List channels and the deployment's channel accounts.", no_args_is_help=True)


@app.command("list")
def list_channels(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every channel with its configured accounts and their webhook paths."""
    context = cli_context(ctx)
    registry = context.hooks.channel_registry(context.settings)
    accounts = sorted(registry.accounts.values(), key=lambda account: account.name)
    rows: list[dict[str, Any]] = [
        {
            "channel": name,
            "plugin": type(channel).__module__,
            "identity_kinds": list(channel.identity_kinds),
            "reply_deadline_seconds": channel.reply_deadline.total_seconds(),
            "replies_in_response": channel.replies_in_response,
            "accounts": [
                {"name": a.name, "market": a.market, "webhook": f"/webhooks/{name}/{a.name}"}
                for a in accounts
                if a.channel == name
            ],
        }
        for name, channel in sorted(registry.channels.items())
    ]
    if as_json:
        print_json(rows)
        return
    table = [
        {
            "channel": row["channel"],
            "accounts": "\n".join(
                f"{a['name']} ({a['market']}) {a['webhook']}" for a in row["accounts"]
            ),
            "identity_kinds": ", ".join(row["identity_kinds"]),
        }
        for row in rows
    ]
    print_rows(_("channels"), table, ["channel", "accounts", "identity_kinds"], False)


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    cli.add_typer(app, name="channels")
