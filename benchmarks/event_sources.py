"""Vehicle events from NATS JetStream into the telematics store, beside raw inserts.

On a scratch PostgreSQL database (``REGIOCRM_TEST_POSTGRES_URL`` or the local ``test``
server) with a JP deployment of ``--cars`` known vehicles, the same ``--events`` rows go:

1. **raw**: psycopg ``executemany`` of the rows (ids, vehicles and JSON made beforehand)
   into a copy of ``telematics_events`` with its unique key, ``INSERT … ON CONFLICT DO
   NOTHING``, one commit per ``--batch`` rows: the database's own speed, the reference;
2. **sink alone**: the telematics ingest called directly with the same batches, read
   beforehand: the sink's own speed, what a source could reach at best;
3. **one source**: the JetStream source in this process, fetching ``--batch`` at a time
   from a durable consumer into the real sink (the telematics ingest: VIN lookup,
   residency, idempotent insert, the pack's rules, commit) and acknowledging after it;
4. **workers**: ``--workers`` ``regiocrm worker --no-inbox`` processes sharing one durable
   consumer; afterwards every event is stored exactly once (rows = distinct keys =
   events) and JetStream handed each message out once.

Each figure is events per second from the first event stored to the last; the workers are
sent the events once they are all connected (what starting a process takes is left out).
The ratios are to the raw inserts of the same run::

    python benchmarks/event_sources.py --events 100000 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import nats
import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from regiocrm.crm.accounts import create_organization
from regiocrm.crm.customers import NewCustomer
from regiocrm.interfaces.events import event_from_json
from regiocrm.interfaces.maps import Point
from regiocrm.interfaces.terms import OrganizationKind
from regiocrm.models import Ownership, Vehicle
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.plugins import get_plugin_manager
from regiocrm.platform.settings import load_settings
from regiocrm.plugins.streams.jetstream import JetStreamSettings, JetStreamSource
from regiocrm.services.application import Application
from regiocrm.services.callers import SYSTEM
from regiocrm.services.customers import CustomerService
from regiocrm.services.event_sources import ConfiguredSource, SourceRunner, ingesting
from regiocrm.testing import deployment_environment, run_regiocrm, scratch_database

NATS_URL = "nats://127.0.0.1:4222"
START = datetime(2026, 12, 1, tzinfo=UTC)


def vins(cars: int) -> list[str]:
    return [f"JTDBR32E53{n:07d}" for n in range(cars)]


def bodies(events: int, cars: list[str], tag: str) -> list[tuple[str, bytes]]:
    """(subject, payload) of each event: mileage readings spread over the cars."""
    found = []
    for n in range(events):
        vin = cars[n % len(cars)]
        body = {
            "vin": vin,
            "event_id": f"{tag}-{n}",
            "kind": "mileage",
            "occurred_at": (START + timedelta(seconds=n)).isoformat(),
            "payload": {"odometer_km": 1000 + n},
        }
        found.append((vin, json.dumps(body).encode()))
    return found


async def publish(stream: str, subject: str, messages: list[tuple[str, bytes]]) -> None:
    """Publish through core NATS (the stream captures the subjects) and wait until the
    stream holds them all: JetStream's per-message acknowledgement would time the
    publisher, not the consumers."""
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    before = (await js.stream_info(stream)).state.messages
    for vin, body in messages:
        await nc.publish(f"{subject}.{vin}.events", body)
    await nc.flush()
    while (await js.stream_info(stream)).state.messages < before + len(messages):
        await asyncio.sleep(0.05)
    await nc.close()


async def make_stream(stream: str, subject: str) -> None:
    from nats.js.api import StorageType, StreamConfig

    nc = await nats.connect(NATS_URL)
    await nc.jetstream().add_stream(
        StreamConfig(name=stream, subjects=[f"{subject}.*.events"], storage=StorageType.FILE)
    )
    await nc.close()


async def consumer_delivered(stream: str, durable: str) -> tuple[int, int, int]:
    """(messages handed out, counting redeliveries; pending; acknowledgements pending)."""
    nc = await nats.connect(NATS_URL)
    info = await nc.jetstream().consumer_info(stream, durable)
    await nc.close()
    return info.delivered.consumer_seq, info.num_pending or 0, info.num_ack_pending or 0


async def delete_stream(stream: str) -> None:
    nc = await nats.connect(NATS_URL)
    await nc.jetstream().delete_stream(stream)
    await nc.close()


def stored(url: URL, table: str = "telematics_events") -> tuple[int, int]:
    """(rows, distinct keys): checked once a run is over."""
    engine = create_engine(url)
    with engine.connect() as connection:
        rows, distinct = connection.execute(
            text(f"SELECT count(*), count(DISTINCT (vehicle_id, event_id)) FROM {table}")
        ).one()
    engine.dispose()
    return int(rows), int(distinct)


class Rows:
    """The table's row count, polled over one connection while a run goes on: cheap, so
    that the polling takes little from what it times."""

    def __init__(self, url: URL) -> None:
        self.engine = create_engine(url)
        self.connection = self.engine.connect()

    def __call__(self) -> int:
        count = self.connection.execute(text("SELECT count(*) FROM telematics_events")).scalar()
        self.connection.rollback()
        return int(count or 0)

    def close(self) -> None:
        self.connection.close()
        self.engine.dispose()


def rate_while(count: Callable[[], int], total: int, *, timeout: float = 3600) -> float:
    """Events a second from the first stored (by ``count``) to ``total`` stored."""
    deadline = time.monotonic() + timeout
    while (first := count()) == 0:
        if time.monotonic() > deadline:
            raise SystemExit("nothing was stored")
        time.sleep(0.05)
    began = time.perf_counter()
    while (done := count()) < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {done} of {total} stored")
        time.sleep(0.25)
    return (total - first) / (time.perf_counter() - began)


def deployment(folder: Path, url: URL, cars: list[str]) -> Hooks:
    rendered = url.render_as_string(hide_password=False)
    (folder / "regiocrm.toml").write_text(
        f'home_zone = "jp"\n\n[deployment]\nmarket = "JP"\n\n[zones]\njp = "{rendered}"\n'
    )
    upgraded = run_regiocrm("db", "upgrade", cwd=folder)
    if upgraded.returncode != 0:
        raise SystemExit(upgraded.stderr)
    os.chdir(folder)
    hooks = Hooks(get_plugin_manager(entry_points=False))
    app = Application.open(load_settings(hooks), hooks)
    try:
        with app.transaction() as session:
            dealer = create_organization(
                session,
                name="Osaka Motors",
                kind=OrganizationKind.DEALER,
                market="JP",
                location=Point(34.69, 135.50),
            )
        customers = CustomerService(app)
        for vin in cars:
            customer = customers.create(SYSTEM, NewCustomer(market="JP")).id
            with app.transaction() as session:
                vehicle = Vehicle(market="JP", vin=vin, model="Tourer")
                session.add(vehicle)
                session.flush()
                session.add(
                    Ownership(
                        market="JP",
                        vehicle_id=vehicle.id,
                        customer_id=customer,
                        dealer_id=dealer.id,
                        started_on=date(2025, 4, 1),
                    )
                )
    finally:
        app.close()
    return hooks


def raw_inserts(url: URL, events: int, cars: list[str], batch: int) -> float:
    """The reference: the same rows, made beforehand, straight into a copy of the table."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE raw_events (LIKE telematics_events INCLUDING ALL)"))
        vehicles = {
            vin: id_ for vin, id_ in connection.execute(text("SELECT vin, id FROM vehicles"))
        }
    engine.dispose()
    now = datetime.now(UTC)
    rows = []
    for n, (vin, body) in enumerate(bodies(events, cars, "raw")):
        event = json.loads(body)
        rows.append(
            (
                uuid.uuid4(),
                "JP",
                vehicles[vin],
                event["kind"],
                START + timedelta(seconds=n),
                json.dumps(event["payload"]),
                event["event_id"],
                now,
                now,
            )
        )
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as connection:
        began = time.perf_counter()
        with connection.cursor() as cursor:
            for start in range(0, len(rows), batch):
                cursor.executemany(
                    "INSERT INTO raw_events (id, market, vehicle_id, kind, occurred_at,"
                    " payload, event_id, created, updated)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    rows[start : start + batch],
                )
                connection.commit()
        seconds = time.perf_counter() - began
    assert stored(url, "raw_events") == (events, events)
    return events / seconds


def sink_alone(hooks: Hooks, events: int, cars: list[str], batch: int) -> float:
    """The telematics ingest called directly with the same batches, read beforehand: the
    sink's own speed, what a source could reach at best."""
    app = Application.open(load_settings(hooks), hooks)
    sink = ingesting(app)
    read = [event_from_json(json.loads(body)) for _, body in bodies(events, cars, "sink")]
    try:
        began = time.perf_counter()
        for start in range(0, events, batch):
            sink(read[start : start + batch])
        seconds = time.perf_counter() - began
    finally:
        app.close()
    return events / seconds


def one_source(url: URL, hooks: Hooks, events: int, cars: list[str], batch: int) -> float:
    tag = uuid.uuid4().hex[:10]
    stream, subject, durable = f"BENCH_{tag}", f"bench.{tag}", f"bench-{tag}"
    asyncio.run(make_stream(stream, subject))
    try:
        asyncio.run(publish(stream, subject, bodies(events, cars, "one")))
        settings = JetStreamSettings(
            kind="jetstream",
            servers=[NATS_URL],
            stream=stream,
            subject=f"{subject}.*.events",
            durable=durable,
            create=True,
            batch_size=batch,
        )
        app = Application.open(load_settings(hooks), hooks)
        runner = SourceRunner(
            [ConfiguredSource("bench", JetStreamSource(), settings)], ingesting(app)
        )
        rows = Rows(url)
        before = rows()
        runner.start()
        try:
            rate = rate_while(lambda: rows() - before, events)
        finally:
            runner.stop()
            app.close()
            rows.close()
    finally:
        asyncio.run(delete_stream(stream))
    return rate


def workers(folder: Path, url: URL, events: int, cars: list[str], batch: int, count: int) -> float:
    tag = uuid.uuid4().hex[:10]
    stream, subject, durable = f"BENCH_{tag}", f"bench.{tag}", f"bench-{tag}"
    asyncio.run(make_stream(stream, subject))
    config = folder / "regiocrm.toml"
    config.write_text(
        config.read_text() + f'\n[event_sources.cars]\nkind = "jetstream"\nstream = "{stream}"\n'
        f'subject = "{subject}.*.events"\ndurable = "{durable}"\ncreate = true\n'
        f"batch_size = {batch}\n"
    )
    processes = []
    rows = Rows(url)
    try:
        before = rows()
        for n in range(count):
            with (folder / f"worker-{n}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "regiocrm", "worker", "--no-inbox"],
                        cwd=folder,
                        env=deployment_environment(PYTHONUNBUFFERED="1"),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        # Published once every worker is connected: a worker still starting (seconds of
        # imports) would take the CPU from the one already consuming.
        deadline = time.monotonic() + 120
        while not all(
            "event source cars: connected" in (folder / f"worker-{n}.log").read_text()
            for n in range(count)
        ):
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not connect")
            time.sleep(0.1)
        messages = bodies(events, cars, "workers")
        publishing = threading.Thread(
            target=lambda: asyncio.run(publish(stream, subject, messages))
        )
        publishing.start()
        rate = rate_while(lambda: rows() - before, events)
        publishing.join()
        handed_out, pending, unacked = asyncio.run(consumer_delivered(stream, durable))
    finally:
        rows.close()
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=120)
        asyncio.run(delete_stream(stream))
    total, distinct = stored(url)
    shares = [
        line
        for n in range(count)
        for line in (folder / f"worker-{n}.log").read_text().splitlines()
        if "events delivered" in line
    ]
    print(f"  stored {total - before} rows, {distinct - before} distinct, of {events} events")
    print(f"  JetStream handed out {handed_out} messages; pending {pending}, unacked {unacked}")
    for line in shares:
        print(f"  {line}")
    if total - before != events or distinct != total or handed_out != events:
        raise SystemExit("not exactly once")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--cars", type=int, default=500)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cars = vins(args.cars)
    with tempfile.TemporaryDirectory() as tmp, scratch_database() as url:
        folder = Path(tmp)
        hooks = deployment(folder, url, cars)
        print(f"{args.events} events over {args.cars} cars, batches of {args.batch}")
        raw = raw_inserts(url, args.events, cars, args.batch)
        print(f"{'raw executemany (reference)':<44} {raw:10,.0f} events/s")
        alone = sink_alone(hooks, args.events, cars, args.batch)
        label = "telematics ingest alone, no stream"
        print(f"{label:<44} {alone:10,.0f} events/s  {alone / raw:.2f}x raw")
        one = one_source(url, hooks, args.events, cars, args.batch)
        print(
            f"{'JetStream, one source, real sink':<44} {one:10,.0f} events/s  {one / raw:.2f}x raw"
        )
        many = workers(folder, url, args.events, cars, args.batch, args.workers)
        label = f"JetStream, {args.workers} regiocrm workers"
        print(f"{label:<44} {many:10,.0f} events/s  {many / raw:.2f}x raw")


if __name__ == "__main__":
    main()
