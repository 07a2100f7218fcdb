"""The disk under a served deployment's SQLite zone fills up: webhooks are answered 503 with
the reason in the log and nothing half-written; once space is freed the server stores and
processes again by itself."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from line_deployment import line_deployment, post, statuses, wait_processed
from served import serving
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

# Room for the migrated zone and its write-ahead log; the filler takes the rest.
DISK_SIZE = "16m"
FULL_POSTS = 5


@contextmanager
def small_disk(folder: Path) -> Iterator[Path]:
    """A tmpfs of :data:`DISK_SIZE` mounted at ``folder`` until the block ends.

    Skips with the reason where mounting is not permitted (it needs root), but fails under
    ``CI=true``, where the test must run.
    """
    folder.mkdir()
    if shutil.which("mount") is None:
        reason = "no mount command"
    else:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        reason = f"cannot mount a tmpfs: {mounted.stderr.strip()}" if mounted.returncode else ""
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the full-disk test must run)")
        pytest.skip(reason)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def fill(disk: Path) -> Path:
    """A file taking every byte left on ``disk``."""
    filler = disk / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(descriptor, bytes(1 << 16))
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
    finally:
        os.close(descriptor)
    return filler


def inbox_count(database: Path) -> int:
    with closing(sqlite3.connect(database)) as zone:
        return int(zone.execute("SELECT count(*) FROM inbox_messages").fetchone()[0])


def integrity(database: Path) -> list[str]:
    with closing(sqlite3.connect(database)) as zone:
        return [row[0] for row in zone.execute("PRAGMA integrity_check")]


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "disk") as mounted:
        yield mounted


def test_a_full_disk_answers_503_keeps_nothing_half_written_and_recovers(
    disk: Path, tmp_path: Path
) -> None:
    database = disk / "jp.db"
    line_deployment(tmp_path, f"sqlite:///{database}")
    zone: Engine = create_engine(f"sqlite:///{database}", poolclass=NullPool)
    try:
        with serving(tmp_path) as server:
            stored = post(server.base, "m-before")
            assert stored.status_code == 200, stored.text
            wait_processed(zone, "m-before")
            filler = fill(disk)
            full = [post(server.base, f"m-full-{number}") for number in range(FULL_POSTS)]
            count_when_full = inbox_count(database)
            checked = integrity(database)
            said = server.log()
            filler.unlink()
            again = post(server.base, "m-full-0")
            wait_processed(zone, "m-full-0")
            count_after = inbox_count(database)
    finally:
        zone.dispose()
    assert [answer.status_code for answer in full] == [503] * FULL_POSTS, full[0].text
    assert full[0].headers["retry-after"].isdigit()
    assert count_when_full == 1, "nothing stored that was not acknowledged"
    assert checked == ["ok"]
    assert said.count("database or disk is full") >= FULL_POSTS, said
    assert "Traceback" not in said, said
    assert again.status_code == 200, again.text
    assert count_after == 2
    assert statuses(zone, "m-before") == ["processed"]
