"""Two ``regiocrm serve`` processes and a ``regiocrm worker`` on one PostgreSQL zone, under a
LINE load: one server and the worker are killed (SIGKILL) while they hold leases. Every
message acknowledged is processed exactly once, and what the dead held is taken over by the
survivor once their leases lapse."""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from line_deployment import ACCOUNT, LINE, line_deployment
from served import Server, running
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

pytestmark = pytest.mark.postgres

MESSAGES = 2400
SENDERS = 50
CLIENTS = 8
# How many are acknowledged before the kill: the load goes on after it, on the survivor.
KILL_AFTER = MESSAGES // 3
# Generous, for a machine busy with other tests: the survivor alone takes ~20 s here.
DEADLINE_SECONDS = 90
# How often one message is posted before the client gives up on it, as a provider retries.
ATTEMPTS = 5


@dataclass
class Load:
    """Clients posting signed LINE webhooks spread over the servers, and again to a live
    one until each is acknowledged; what was acknowledged, and every answer that was not a
    2xx (from a live server) or a transport error (from a dead one)."""

    servers: list[Server]
    acknowledged: set[str] = field(default_factory=set)
    unexpected: list[str] = field(default_factory=list)
    dead: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, messages: queue.Queue[tuple[int, str, bytes]]) -> None:
        try:
            with httpx.Client(timeout=30) as client:
                while True:
                    try:
                        number, message_id, body = messages.get_nowait()
                    except queue.Empty:
                        return
                    for attempt in range(ATTEMPTS):
                        if self._post(client, self._server(number + attempt), message_id, body):
                            break
        except Exception as exc:
            with self.lock:
                self.unexpected.append(repr(exc))

    def count(self) -> int:
        with self.lock:
            return len(self.acknowledged)

    def _server(self, number: int) -> Server:
        with self.lock:
            alive = [s for s in self.servers if s.process.pid not in self.dead]
        return alive[number % len(alive)]

    def _post(self, client: httpx.Client, server: Server, message_id: str, body: bytes) -> bool:
        url = f"{server.base}/webhooks/line/{ACCOUNT}"
        try:
            answer = LINE.sign(url, body, at=datetime.now(UTC)).send(client, url)
        except httpx.TransportError:
            with self.lock:
                if server.process.pid in self.dead:
                    return False
            raise
        with self.lock:
            if answer.is_success:
                self.acknowledged.add(message_id)
                return True
            self.unexpected.append(f"{server.base}: {answer.status_code} {answer.text}")
        return False


def owner_pid(owner: str) -> int:
    """The pid in a claimer's name, ``host:pid:random``."""
    return int(owner.split(":")[1])


def leased(zone: Engine) -> dict[int, set[str]]:
    """The messages waiting under a lease, by the pid of the process holding it."""
    with zone.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT external_id, claimed_by FROM inbox_messages"
                " WHERE status = 'received' AND claimed_by IS NOT NULL"
            )
        )
        held: dict[int, set[str]] = {}
        for message_id, owner in rows:
            held.setdefault(owner_pid(owner), set()).add(message_id)
        return held


def not_processed(zone: Engine) -> int:
    with zone.connect() as connection:
        query = text("SELECT count(*) FROM inbox_messages WHERE status <> 'processed'")
        return int(connection.execute(query).scalar_one())


def connected(zone: Engine, names: set[str]) -> int:
    """How many connections the processes of these names still have to the zone's
    database. A killed process's are closed by its kernel, but their backends live on
    until they notice: a COMMIT already sent is still carried out."""
    with zone.connect() as connection:
        query = text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = ANY(:names)"
        )
        return int(connection.execute(query, {"names": sorted(names)}).scalar_one())


def test_killing_a_server_and_the_worker_under_load_loses_and_doubles_nothing(
    postgres_url: URL, postgres_zone: Engine, tmp_path: Path
) -> None:
    line_deployment(tmp_path, postgres_url)
    zone = postgres_zone
    now = datetime.now(UTC)
    messages: queue.Queue[tuple[int, str, bytes]] = queue.Queue()
    for number in range(MESSAGES):
        message_id = f"m{number:05d}"
        sender = LINE.sender(number % SENDERS)
        body = LINE.text_body(sender=sender, text=f"#{number}", message_id=message_id, at=now)
        messages.put((number, message_id, body))
    with running(tmp_path, servers=["victim", "survivor"], workers=["worker"]) as started:
        [victim, survivor], [worker] = started.servers, started.workers
        load = Load([victim, survivor])
        clients = [threading.Thread(target=load.run, args=(messages,)) for _ in range(CLIENTS)]
        for client in clients:
            client.start()
        killed = {victim.process.pid, worker.process.pid}
        deadline = time.monotonic() + DEADLINE_SECONDS
        assert all(connected(zone, {name}) for name in ("victim", "worker")), "known by name"
        # Killed only while both hold leases on messages they have not processed. A batch
        # takes milliseconds, so they are frozen (SIGSTOP) before their leases are read,
        # and let go on to try again a moment later unless both held some.
        while True:
            assert time.monotonic() < deadline, f"the victims held no leases: {leased(zone)}"
            assert messages.qsize(), "the load ended before the victims held leases"
            if load.count() >= KILL_AFTER:
                for pid in killed:
                    os.kill(pid, signal.SIGSTOP)
                if killed <= set(leased(zone)):
                    break
                for pid in killed:
                    os.kill(pid, signal.SIGCONT)
            time.sleep(0.01)
        with load.lock:
            load.dead |= killed
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        while connected(zone, {"victim", "worker"}):
            assert time.monotonic() < deadline, "the dead's connections were never closed"
            time.sleep(0.05)
        orphans = {pid: held for pid, held in leased(zone).items() if pid in killed}
        for client in clients:
            client.join()
        while not_processed(zone):
            assert time.monotonic() < deadline, f"{not_processed(zone)} messages not processed"
            time.sleep(0.2)
        with zone.connect() as connection:
            rows = connection.execute(
                text("SELECT external_id, status, claimed_by FROM inbox_messages")
            ).all()
            entries = Counter(
                message_id
                for (message_id,) in connection.execute(
                    text("SELECT external_id FROM interactions WHERE direction = 'inbound'")
                )
            )
        said = survivor.log()

    assert load.unexpected == [], said
    every = {f"m{number:05d}" for number in range(MESSAGES)}
    assert load.acknowledged == every, "the survivor acknowledged what the victim could not"
    assert len(rows) == MESSAGES, "one inbox row each"
    assert {status for _, status, _ in rows} == {"processed"}
    assert {message_id: n for message_id, n in entries.items() if n != 1} == {}, "none twice"
    assert set(entries) == every, "every message on the timeline"
    # Frozen while both held leases; one of them may still have had a batch's COMMIT on its
    # way to the database, which then completes without it.
    assert orphans, "the victims died holding no leases"
    assert set(orphans) <= killed
    claimers = {message_id: owner_pid(owner) for message_id, _, owner in rows}
    taken_over = {claimers[message_id] for held in orphans.values() for message_id in held}
    assert taken_over == {survivor.process.pid}, "the survivor processed what the dead held"
    assert "Traceback" not in said, said
