"""`regiocrm worker` as a deployment runs it apart: the serving process only stores what
the webhooks bring (``[inbox] process_in_server = false``), the worker processes it, and
stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from served import admin_token, serving, working

from regiocrm.plugins.channels.line.testing import LineDriver


def inbox_rows(folder: Path) -> list[tuple[str, str | None]]:
    """Status and claimer of every inbox row, in every zone's file."""
    rows = []
    for database in sorted((folder / "var").glob("*.db")):
        with sqlite3.connect(database) as zone:
            rows += zone.execute("SELECT status, claimed_by FROM inbox_messages").fetchall()
    return rows


def test_the_worker_processes_what_a_server_without_one_stored(tmp_path: Path) -> None:
    line = LineDriver()
    table = "\n".join(
        f"{key} = {json.dumps(value)}" for key, value in line.account_settings().items()
    )
    (tmp_path / "regiocrm.toml").write_text(
        f"[inbox]\nprocess_in_server = false\n\n[channel_accounts.line_jp]\n{table}\n"
    )
    admin_token(tmp_path)
    with serving(tmp_path) as server:
        url = f"{server.base}/webhooks/line/line_jp"
        body = line.text_body(
            sender=line.sender(1), text="hello", message_id="m1", at=datetime.now(UTC)
        )
        answer = line.sign(url, body, at=datetime.now(UTC)).send(httpx.Client(), url)
        assert answer.status_code == 200, answer.text
        assert inbox_rows(tmp_path) == [("received", None)]

        with working(tmp_path) as worker:
            deadline = time.monotonic() + 60
            while inbox_rows(tmp_path)[0][0] == "received":
                if worker.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the worker processed nothing: {worker.log()}")
                time.sleep(0.1)
            [(status, claimer)] = inbox_rows(tmp_path)
            assert status == "processed", worker.log()
            assert f":{worker.process.pid}:" in str(claimer), "the worker did it"
    said = worker.log()
    assert worker.process.returncode == 0, said
    assert "processing the inbox as" in said
    assert "stopped; the messages not processed are released" in said
