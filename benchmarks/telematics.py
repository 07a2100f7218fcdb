"""Vehicle events stored per second: through the ingest service in-process and through
``POST /api/telematics/events`` served by ``regiocrm serve`` over a loopback socket, beside
raw inserts of the same rows into the same table on the same kind of database, in the same
run.

    python benchmarks/telematics.py                      # SQLite, 100,000 events
    python benchmarks/telematics.py --postgres           # SQLite, then PostgreSQL
    python benchmarks/telematics.py --events 20000 --only api
    python benchmarks/telematics.py --no-sqlite --postgres  # PostgreSQL alone

A Shanghai deployment (one zone, ``cn``, that also holds the directory) is made in a fresh
folder with ``regiocrm db upgrade``; 1,000 cars are registered, each owned and serviced by a
dealer. The events are mileage readings, each car in turn, in batches of ``--batch``; they
make no CRM work, so what is measured is reading, checking and storing them.

* ``service``: ``app.telematics.ingest`` per batch, in this process: what a stream source's
  sink costs (the JetStream source hands its batches to it).
* ``api``: the NDJSON batches posted by ``--clients`` threads (one on SQLite, which has one
  writer at a time) to ``regiocrm serve`` with a telematics provider's token; counted once
  each answer (after the commit) is in. A batch answered 503 (the database busy) is posted
  again, as a provider would, and the retries are printed.
* ``raw``: the reference: the rows the service stores (same columns, same values), inserted
  with one ``executemany`` a batch and committed, on an engine made as regiocrm makes a
  zone's, into a fresh table of the same definition (its unique key and indexes too).

Each measurement is a function in :data:`MEASUREMENTS` taking the :class:`Deployment` and
returning the events stored and the seconds taken; another (a stream source's) is added
there and chosen with ``--only``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

# A sibling script: Python puts this folder first on the path of a script run from it.
from webhooks_load import regiocrm, running, wait_ready

from regiocrm.crm.accounts import create_organization, create_user
from regiocrm.interfaces.events import EventKind, VehicleEvent
from regiocrm.interfaces.terms import OrganizationKind, UserRole
from regiocrm.models import Ownership, TelematicsEvent, Vehicle
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.ids import new_id
from regiocrm.platform.plugins import get_plugin_manager
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import make_engine, table_of
from regiocrm.services.application import Application
from regiocrm.testing import deployment_environment, scratch_database

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CARS = 1000
# ISO 3779's alphabet without I, O and Q: each car a VIN of its own.
VIN_PREFIX = "LSVAU2180N2"


@dataclass
class Deployment:
    """A migrated deployment in ``folder`` on ``url``, its cars' VINs, a provider's token,
    and the run's options."""

    folder: Path
    url: str
    vins: list[str]
    token: str
    args: argparse.Namespace
    fresh: Callable[[], Any]

    def events(self, prefix: str) -> list[VehicleEvent]:
        """``--events`` mileage readings, each car in turn, a minute apart."""
        start = utcnow() - timedelta(days=1)
        return [
            VehicleEvent(
                self.vins[n % len(self.vins)],
                f"{prefix}-{n}",
                EventKind.MILEAGE,
                start + timedelta(seconds=n),
                {"odometer_km": 1000 + n // len(self.vins)},
            )
            for n in range(self.args.events)
        ]

    def batches(self, events: list[VehicleEvent]) -> Iterator[list[VehicleEvent]]:
        size = self.args.batch
        for start in range(0, len(events), size):
            yield events[start : start + size]


@contextmanager
def chdir(folder: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


@contextmanager
def opened(folder: Path) -> Iterator[Application]:
    """The deployment's application, as a stream worker opens it."""
    hooks = Hooks(get_plugin_manager())
    with chdir(folder):
        app = Application.open(load_settings(hooks), hooks)
    try:
        yield app
    finally:
        app.close()


def deploy(folder: Path, url: str) -> str:
    """Configure, migrate and seed the deployment; the provider's token."""
    folder.mkdir(parents=True)
    (folder / "regiocrm.toml").write_text(
        f'home_zone = "cn"\n[zones]\ncn = "{url}"\n[deployment]\nmarket = "CN"\n'
        "[telematics]\nmax_batch_events = 100000\n[http]\nmax_body_bytes = 67108864\n"
    )
    upgraded = regiocrm(folder, "db", "upgrade")
    if upgraded.returncode:
        raise SystemExit(f"regiocrm db upgrade failed:\n{upgraded.stderr}")
    with opened(folder) as app, app.transaction() as session:
        dealer = create_organization(
            session, name="Shanghai Motors", kind=OrganizationKind.DEALER, market="CN"
        )
        provider = create_organization(
            session, name="Connected Car Co", kind=OrganizationKind.OEM, market="CN"
        )
        token = create_user(
            session, name="provider", role=UserRole.TELEMATICS_PROVIDER, organization=provider
        ).token
        for number in range(CARS):
            car = Vehicle(id=new_id(), market="CN", vin=vin(number), model="Tourer")
            session.add(car)
            session.add(
                Ownership(
                    market="CN",
                    vehicle_id=car.id,
                    customer_id=new_id(),
                    dealer_id=dealer.id,
                    started_on=date(2025, 4, 1),
                )
            )
    return token


def vin(number: int) -> str:
    return f"{VIN_PREFIX}{number:06d}"


# --- measurements -----------------------------------------------------------------------


def service(deployment: Deployment) -> tuple[int, float]:
    events = deployment.events("service")
    with opened(deployment.folder) as app:
        app.telematics.ingest(deployment.events("warm")[: deployment.args.batch])
        stored = 0
        began = time.perf_counter()
        for batch in deployment.batches(events):
            stored += app.telematics.ingest(batch).stored
        return stored, time.perf_counter() - began


def api(deployment: Deployment) -> tuple[int, float]:
    bodies = [
        "".join(json.dumps(as_json(event)) + "\n" for event in batch).encode()
        for batch in deployment.batches(deployment.events("api"))
    ]
    env = deployment_environment(PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "regiocrm", "serve"]
    with running(command, deployment.folder, env, deployment.folder / "serve.log") as server:
        wait_ready(server)
        url = f"http://127.0.0.1:{server.port}/api/telematics/events"
        headers = {
            "Authorization": f"Bearer {deployment.token}",
            "Content-Type": "application/x-ndjson",
        }
        stored, retried = [0], [0]
        lock = threading.Lock()
        pending = list(reversed(bodies))

        def post() -> None:
            with httpx.Client(timeout=120) as client:
                while True:
                    with lock:
                        if not pending:
                            return
                        body = pending.pop()
                    answer = client.post(url, content=body, headers=headers)
                    while answer.status_code == httpx.codes.SERVICE_UNAVAILABLE:
                        # Nothing of the batch was kept: a provider posts it again.
                        with lock:
                            retried[0] += 1
                        answer = client.post(url, content=body, headers=headers)
                    answer.raise_for_status()
                    with lock:
                        stored[0] += answer.json()["stored"]

        # SQLite has one writer at a time: more clients only wait on its lock.
        clients = 1 if deployment.url.startswith("sqlite") else deployment.args.clients
        threads = [threading.Thread(target=post) for _ in range(clients)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.perf_counter() - began
        if retried[0]:
            print(f"  ({retried[0]} batches answered 503 and posted again)")
        return stored[0], took


def raw(deployment: Deployment) -> tuple[int, float]:
    """The same rows inserted with nothing else done, into a fresh table alike."""
    with deployment.fresh() as url:
        engine = make_engine(make_url(url))
        table = table_of(TelematicsEvent)
        table.create(engine)
        ids = {number: new_id() for number in range(CARS)}
        now = utcnow()
        rows = [
            {
                "id": new_id(),
                "market": "CN",
                "vehicle_id": ids[int(event.vin[-6:])],
                "event_id": event.event_id,
                "kind": event.kind.value,
                "occurred_at": event.occurred_at,
                "payload": dict(event.payload),
                "created": now,
                "updated": now,
            }
            for event in deployment.events("raw")
        ]
        size = deployment.args.batch
        began = time.perf_counter()
        for start in range(0, len(rows), size):
            with engine.begin() as connection:
                connection.execute(insert(table), rows[start : start + size])
        took = time.perf_counter() - began
        engine.dispose()
        return len(rows), took


def as_json(event: VehicleEvent) -> dict[str, Any]:
    return {
        "vin": event.vin,
        "event_id": event.event_id,
        "kind": event.kind.value,
        "occurred_at": event.occurred_at.isoformat(),
        "payload": dict(event.payload),
    }


MEASUREMENTS: dict[str, Callable[[Deployment], tuple[int, float]]] = {
    "service": service,
    "api": api,
}


# --- the run ------------------------------------------------------------------------------


def databases(kind: str, server: str, folder: Path) -> Iterator[tuple[str, Callable[[], Any]]]:
    """The deployment's database URL, and how to get a fresh one for the reference."""
    if kind == "sqlite":
        counter = [0]

        @contextmanager
        def fresh_file() -> Iterator[str]:
            counter[0] += 1
            yield f"sqlite:///{folder / f'raw-{counter[0]}.db'}"

        yield f"sqlite:///{folder / 'deployment' / 'cn.db'}", fresh_file
        return
    with scratch_database(make_url(server)) as url:

        @contextmanager
        def fresh_database() -> Iterator[str]:
            with scratch_database(make_url(server)) as other:
                yield other.render_as_string(hide_password=False)

        yield url.render_as_string(hide_password=False), fresh_database


def make_url(value: str) -> Any:
    from sqlalchemy.engine import make_url as parse

    return parse(value)


def run(kind: str, server: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix=f"telematics-{kind}-") as scratch:
        folder = Path(scratch)
        for url, fresh in databases(kind, server, folder):
            token = deploy(folder / "deployment", url)
            deployment = Deployment(
                folder / "deployment", url, [vin(n) for n in range(CARS)], token, args, fresh
            )
            stored, took = raw(deployment)
            reference = stored / took
            print(
                f"{kind:10} raw inserts   {reference:10,.0f} events/s  ({stored:,} in {took:.2f} s)"
            )
            for name in args.only or list(MEASUREMENTS):
                stored, took = MEASUREMENTS[name](deployment)
                rate = stored / took
                print(
                    f"{kind:10} {name:13} {rate:10,.0f} events/s  ({stored:,} in {took:.2f} s)"
                    f"  {rate / reference:.2f}x raw"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000, help="events per batch")
    parser.add_argument(
        "--clients", type=int, default=4, help="threads posting to the API (1 on SQLite)"
    )
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=DEFAULT_POSTGRES,
        help=f"also on PostgreSQL (a server URL; default {DEFAULT_POSTGRES})",
    )
    parser.add_argument("--only", action="append", choices=sorted(MEASUREMENTS))
    parser.add_argument(
        "--sqlite", action=argparse.BooleanOptionalAction, default=True, help="run on SQLite"
    )
    args = parser.parse_args()
    print(
        f"{args.events:,} events in batches of {args.batch:,}, {CARS:,} cars,"
        f" {args.clients} API clients, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    if args.sqlite:
        run("sqlite", "", args)
    if args.postgres:
        run("postgresql", args.postgres, args)


if __name__ == "__main__":
    main()
