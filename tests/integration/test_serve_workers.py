"""`regiocrm serve --workers 2`: two server processes on one port, each answering webhooks
and processing the inbox, and one that dies replaced while the other goes on."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from served import admin_token, serving

from regiocrm.plugins.channels.line.testing import LineDriver

LINE = LineDriver()


def worker_processes(server_pid: int) -> set[int]:
    """The pids of uvicorn's worker processes under ``server_pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if parent == server_pid and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds} s for {what}")
        time.sleep(0.1)


def inbox(folder: Path) -> dict[str, tuple[str, str | None]]:
    """Each inbox row's message id: its status and claimer."""
    rows = {}
    for database in sorted((folder / "var").glob("*.db")):
        with sqlite3.connect(database) as zone:
            for external_id, status, claimer in zone.execute(
                "SELECT external_id, status, claimed_by FROM inbox_messages"
            ):
                rows[external_id] = (status, claimer)
    return rows


def post_messages(base: str, numbers: range) -> list[int]:
    """LINE webhooks, one message each, from eight clients at once; their statuses."""
    url = f"{base}/webhooks/line/line_jp"

    def post(number: int) -> int:
        body = LINE.text_body(
            sender=LINE.sender(number % 7),
            text=f"message {number}",
            message_id=f"m{number}",
            at=datetime.now(UTC),
        )
        with httpx.Client() as client:
            return LINE.sign(url, body, at=datetime.now(UTC)).send(client, url).status_code

    with ThreadPoolExecutor(8) as clients:
        return list(clients.map(post, numbers))


def test_two_worker_processes_answer_and_process_and_a_dead_one_is_replaced(
    tmp_path: Path,
) -> None:
    table = "\n".join(
        f"{key} = {json.dumps(value)}" for key, value in LINE.account_settings().items()
    )
    (tmp_path / "regiocrm.toml").write_text(f"[channel_accounts.line_jp]\n{table}\n")
    admin_token(tmp_path)
    with serving(tmp_path, "--workers", "2") as server:
        wait_for(lambda: len(worker_processes(server.process.pid)) == 2, "two workers")
        workers = worker_processes(server.process.pid)

        assert post_messages(server.base, range(40)) == [200] * 40
        wait_for(
            lambda: all(status == "processed" for status, _ in inbox(tmp_path).values()),
            "the inbox processed",
        )
        assert sorted(inbox(tmp_path)) == sorted(f"m{n}" for n in range(40))
        claimers = {claimer.split(":")[1] for _, claimer in inbox(tmp_path).values() if claimer}
        assert claimers <= {str(pid) for pid in workers}, "each message claimed by a worker"

        killed = min(workers)
        os.kill(killed, signal.SIGKILL)
        wait_for(
            lambda: len(worker_processes(server.process.pid) - {killed}) == 2,
            "uvicorn to replace the worker that was killed",
        )
        assert post_messages(server.base, range(40, 60)) == [200] * 20
        wait_for(
            lambda: all(status == "processed" for status, _ in inbox(tmp_path).values()),
            "the inbox processed after the kill",
        )
        assert len(inbox(tmp_path)) == 60
    assert "Traceback" not in server.log()
