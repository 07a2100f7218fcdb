"""The database of a served deployment becomes unreachable, then comes back: the provider is
told to deliver again (503) and nothing is kept meanwhile; once the database is back the
server stores and processes again by itself, with no restart."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from at_commit import LOST, at_commit, nothing_at_commit
from line_deployment import ACCOUNT, line_deployment
from served import serving
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from regiocrm.plugins.channels.line.testing import LineDriver

pytestmark = pytest.mark.postgres

LINE = LineDriver()
DEADLINE_SECONDS = 30


def rows(zone: Engine, message_id: str) -> list[str]:
    """The status of each inbox row of the message."""
    with zone.connect() as connection:
        query = text("SELECT status FROM inbox_messages WHERE external_id = :id")
        return list(connection.execute(query, {"id": message_id}).scalars())


def wait_processed(zone: Engine, message_id: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while rows(zone, message_id) != ["processed"]:
        assert time.monotonic() < deadline, f"{message_id}: {rows(zone, message_id)}"
        time.sleep(0.1)


def post(base: str, message_id: str) -> httpx.Response:
    url = f"{base}/webhooks/line/{ACCOUNT}"
    now = datetime.now(UTC)
    body = LINE.text_body(sender=LINE.sender(1), text=message_id, message_id=message_id, at=now)
    with httpx.Client(timeout=30) as client:
        return LINE.sign(url, body, at=now).send(client, url)


def test_a_message_whose_processing_lost_the_database_is_processed_once_it_is_back(
    postgres_url: URL, postgres_zone: Engine, tmp_path: Path
) -> None:
    """The server's connection is terminated as the inbox worker commits the message's
    timeline entry (a failover, a restart): the message is not failed for a human to
    retry, but stays waiting, and is processed once the database commits again."""
    line_deployment(tmp_path, postgres_url)
    with serving(tmp_path) as server:
        at_commit(postgres_zone, "interactions", LOST)
        answer = post(server.base, "m-lost")
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + DEADLINE_SECONDS
        while "terminating connection due to administrator command" not in server.log():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        nothing_at_commit(postgres_zone, "interactions")
        wait_processed(postgres_zone, "m-lost")
    with postgres_zone.connect() as connection:
        entries = connection.execute(
            text("SELECT count(*) FROM interactions WHERE external_id = 'm-lost'")
        ).scalar_one()
    assert entries == 1
