"""Two ``regiocrm worker`` processes share one durable JetStream consumer and store into one
PostgreSQL zone through the telematics ingest: 2,000 events are stored exactly once, each
delivered once while both live; when one is frozen holding a batch and killed, the other
takes the batch over once its ack_wait lapses, and still nothing is stored twice."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from connected_cars import own_car
from event_streams import NATS, require_broker, run_apart, wait_until
from nats.js.api import ConsumerInfo, StreamConfig
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.services.application import Application
from regiocrm.testing import deployment_environment, run_regiocrm

pytestmark = pytest.mark.postgres

EVENTS = 2000
CARS = 20
VINS = [f"JTDBR32E5300{n:05d}" for n in range(CARS)]


@dataclass
class Deployment:
    folder: Path
    stream: str
    subject: str
    durable: str

    def publish(self, first: int, last: int) -> None:
        run_apart(lambda: self._publish(first, last))

    async def _publish(self, first: int, last: int) -> None:
        nc = await nats.connect(f"nats://{NATS[0]}:{NATS[1]}")
        js = nc.jetstream()
        for n in range(first, last):
            vin = VINS[n % CARS]
            body = (
                f'{{"vin":"{vin}","event_id":"e-{n}","kind":"mileage",'
                f'"occurred_at":"2026-12-01T12:00:00+09:00","payload":{{"odometer_km":{n}}}}}'
            )
            await js.publish(f"{self.subject}.{vin}.events", body.encode(), stream=self.stream)
        await nc.close()

    def consumer(self) -> ConsumerInfo:
        async def info() -> ConsumerInfo:
            nc = await nats.connect(f"nats://{NATS[0]}:{NATS[1]}")
            found = await nc.jetstream().consumer_info(self.stream, self.durable)
            await nc.close()
            return found

        return run_apart(info)

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "regiocrm", "worker", "--no-inbox"],
                cwd=self.folder,
                env=deployment_environment(PYTHONUNBUFFERED="1", PGAPPNAME=name),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text()


async def _create_stream(name: str, subject: str) -> None:
    nc = await nats.connect(f"nats://{NATS[0]}:{NATS[1]}")
    await nc.jetstream().add_stream(StreamConfig(name=name, subjects=[f"{subject}.*.events"]))
    await nc.close()


async def _delete_stream(name: str) -> None:
    nc = await nats.connect(f"nats://{NATS[0]}:{NATS[1]}")
    await nc.jetstream().delete_stream(name)
    await nc.close()


@pytest.fixture
def deployment(
    tmp_path: Path, postgres_url: URL, regiocrm_hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deployment]:
    """A JP deployment on ``postgres_url`` whose 20 cars are known, with a JetStream
    source on a stream of this test's own (made here: the workers do not create it)."""
    require_broker(NATS, "NATS JetStream")
    tag = uuid.uuid4().hex[:12]
    found = Deployment(tmp_path, f"REGIOCRM_TEST_{tag}", f"regiocrm-test.{tag}", f"workers-{tag}")
    url = postgres_url.render_as_string(hide_password=False)
    (tmp_path / "regiocrm.toml").write_text(
        f'home_zone = "jp"\n\n[deployment]\nmarket = "JP"\n\n[zones]\njp = "{url}"\n\n'
        "[event_sources.cars]\n"
        'kind = "jetstream"\n'
        f'stream = "{found.stream}"\n'
        f'subject = "{found.subject}.*.events"\n'
        f'durable = "{found.durable}"\n'
        "create = true\n"
        "batch_size = 50\n"
        "ack_wait_seconds = 10\n"
    )
    upgraded = run_regiocrm("db", "upgrade", cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    monkeypatch.chdir(tmp_path)
    settings = load_settings(regiocrm_hooks)
    app = Application.open(settings, regiocrm_hooks)
    try:
        for n, vin in enumerate(VINS):
            own_car(app, vin, "JP", f"Osaka dealer {n}")
    finally:
        app.close()
    run_apart(lambda: _create_stream(found.stream, found.subject))
    yield found
    run_apart(lambda: _delete_stream(found.stream))


def stored(zone: Engine) -> tuple[int, int]:
    """(rows, distinct event ids) in the zone's telematics table."""
    with zone.connect() as connection:
        rows, distinct = connection.execute(
            text("SELECT count(*), count(DISTINCT event_id) FROM telematics_events")
        ).one()
    return int(rows), int(distinct)


def delivered(log: str) -> int:
    found = re.search(r"event source cars: (\d+) events delivered", log)
    assert found, log
    return int(found.group(1))


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def test_two_workers_share_the_consumer_and_store_each_event_once(
    deployment: Deployment, postgres_zone: Engine
) -> None:
    workers = [deployment.start_worker("a"), deployment.start_worker("b")]
    try:
        wait_until(
            lambda: all("event source cars: connected" in deployment.log(n) for n in "ab"),
            "both workers",
        )
        deployment.publish(0, EVENTS)
        wait_until(lambda: stored(postgres_zone)[0] >= EVENTS, f"{EVENTS} events stored")
    finally:
        for process in workers:
            stop(process)
    assert stored(postgres_zone) == (EVENTS, EVENTS)
    consumer = deployment.consumer()
    assert consumer.num_pending == 0
    assert consumer.num_ack_pending == 0
    # Each message was handed out once: no redelivery, nothing acknowledged late.
    assert consumer.delivered.consumer_seq == EVENTS
    shares = [delivered(deployment.log(n)) for n in "ab"]
    assert sum(shares) == EVENTS
    assert min(shares) > 0, f"both workers took a share: {shares}"


def test_a_killed_worker_s_batch_is_taken_over_and_stored_once(
    deployment: Deployment, postgres_zone: Engine
) -> None:
    victim, survivor = deployment.start_worker("victim"), deployment.start_worker("survivor")
    try:
        wait_until(
            lambda: all(
                "event source cars: connected" in deployment.log(n) for n in ("victim", "survivor")
            ),
            "both workers",
        )
        deployment.publish(0, EVENTS // 2)
        wait_until(lambda: stored(postgres_zone)[0] >= EVENTS // 4, "a quarter stored")
        os.kill(victim.pid, signal.SIGSTOP)
        deployment.publish(EVENTS // 2, EVENTS)
        # The survivor does everything but what the frozen victim holds: then nothing is
        # left to hand out, and what is handed out and not acknowledged stays the same
        # from one look to the next (until the victim's ack_wait lapses).
        looks: list[tuple[int, int]] = []

        def settled() -> bool:
            consumer = deployment.consumer()
            looks.append((stored(postgres_zone)[0], consumer.num_ack_pending or 0))
            return consumer.num_pending == 0 and len(looks) > 10 and looks[-1] == looks[-10]

        wait_until(settled, "the survivor to take all it can")
        held = looks[-1][1]
        victim.kill()
        victim.wait(timeout=30)
        wait_until(lambda: stored(postgres_zone)[0] >= EVENTS, f"{EVENTS} events stored")
    finally:
        if victim.poll() is None:
            victim.kill()
        stop(survivor)
    assert stored(postgres_zone) == (EVENTS, EVENTS)
    consumer = deployment.consumer()
    assert consumer.num_ack_pending == 0
    if held:
        # What the victim held was handed out again, to the survivor.
        assert consumer.delivered.consumer_seq >= EVENTS + held
