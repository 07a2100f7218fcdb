"""A deployment of one LINE account in Japan whose zone is a given database, for the tests
that serve it and break that database's way."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.engine import URL

from regiocrm.plugins.channels.line.testing import LineDriver
from regiocrm.testing import run_regiocrm

ACCOUNT = "line_jp"


def line_deployment(folder: Path, zone: URL | str) -> None:
    """Write the settings of a deployment in ``folder`` whose one zone, ``jp``, is the
    database at ``zone`` (a URL, or a SQLite file's path), with the LINE account
    ``line_jp``; migrate it."""
    url = zone if isinstance(zone, str) else zone.render_as_string(hide_password=False)
    account = LineDriver().account_settings()
    table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in account.items())
    (folder / "regiocrm.toml").write_text(
        f'home_zone = "jp"\n\n[deployment]\nmarket = "JP"\n\n[zones]\njp = "{url}"\n\n'
        f"[channel_accounts.{ACCOUNT}]\n{table}\n"
    )
    upgraded = run_regiocrm("db", "upgrade", cwd=folder)
    assert upgraded.returncode == 0, upgraded.stderr
