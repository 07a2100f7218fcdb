"""A deployment of one LINE account in Japan whose zone is a given database, for the tests
that serve it and break that database's way: its settings, a message posted as LINE posts
it, and the message's rows in the zone."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from regiocrm.plugins.channels.line.testing import LineDriver
from regiocrm.testing import run_regiocrm

ACCOUNT = "line_jp"
LINE = LineDriver()
# Generous, for a machine busy with other tests.
PROCESSED_WITHIN_SECONDS = 30


def line_deployment(folder: Path, zone: URL | str) -> None:
    """Write the settings of a deployment in ``folder`` whose one zone, ``jp``, is the
    database at ``zone``, with the LINE account ``line_jp``; migrate it."""
    url = zone if isinstance(zone, str) else zone.render_as_string(hide_password=False)
    account = LINE.account_settings()
    table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in account.items())
    (folder / "regiocrm.toml").write_text(
        f'home_zone = "jp"\n\n[deployment]\nmarket = "JP"\n\n[zones]\njp = "{url}"\n\n'
        f"[channel_accounts.{ACCOUNT}]\n{table}\n"
    )
    upgraded = run_regiocrm("db", "upgrade", cwd=folder)
    assert upgraded.returncode == 0, upgraded.stderr


def post(base: str, message_id: str) -> httpx.Response:
    """A text message ``message_id`` posted to the served account's webhook, signed."""
    url = f"{base}/webhooks/line/{ACCOUNT}"
    now = datetime.now(UTC)
    body = LINE.text_body(sender=LINE.sender(1), text=message_id, message_id=message_id, at=now)
    with httpx.Client(timeout=30) as client:
        return LINE.sign(url, body, at=now).send(client, url)


def statuses(zone: Engine, message_id: str) -> list[str]:
    """The status of each inbox row of the message (one at most)."""
    with zone.connect() as connection:
        query = text("SELECT status FROM inbox_messages WHERE external_id = :id")
        return list(connection.execute(query, {"id": message_id}).scalars())


def wait_processed(zone: Engine, message_id: str) -> None:
    """Wait until the served inbox worker has processed the message."""
    deadline = time.monotonic() + PROCESSED_WITHIN_SECONDS
    while statuses(zone, message_id) != ["processed"]:
        assert time.monotonic() < deadline, f"{message_id}: {statuses(zone, message_id)}"
        time.sleep(0.1)
