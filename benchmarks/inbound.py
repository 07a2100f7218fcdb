"""Inbound messages per second through the whole pipeline, against raw SQL inserts of the
same rows on the same database in the same run.

    python benchmarks/inbound.py              # embedded SQLite in a temporary folder
    python benchmarks/inbound.py --postgres   # a scratch database on the test PostgreSQL server

The pipeline is the real one: LINE webhooks signed as LINE signs them, verified and parsed by
the LINE channel, stored in the inbox (one transaction a webhook), then, as the worker does,
claimed in batches of the worker's size and resolved to customers and put on the timeline
by the inbox's ``process_batch`` (one transaction a batch). It runs twice: in process (the
channel and inbox code called directly) and over HTTP (uvicorn on a loopback port, one
client posting, until the worker has drained the inbox).

The reference writes the same rows with raw SQL, one transaction per message: the inbox
row, a customer and its identity for a sender's first message, and the timeline entry.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from measure import timed
from sqlalchemy import Engine, text

from regiocrm.http.app import create_app
from regiocrm.interfaces.channels import WebhookRequest
from regiocrm.messaging.inbox import BATCH, claim, process_batch, store
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.ids import new_id
from regiocrm.platform.migrations import Migrator
from regiocrm.platform.plugins import get_plugin_manager
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.plugins.channels.line.testing import LineDriver
from regiocrm.testing import scratch_database

DRIVER = LineDriver()
ACCOUNT = "line_jp"
START = datetime(2026, 11, 1, tzinfo=UTC)


def sender(n: int) -> str:
    return f"U{n:032x}"


def bodies(count: int, senders: int, offset: int) -> list[tuple[str, bytes]]:
    """LINE webhook bodies of ``count`` text messages from ``senders`` users."""
    return [
        (
            sender(n % senders),
            DRIVER.text_body(
                sender=sender(n % senders),
                text=f"message {n}",
                message_id=f"{offset + n:026d}",
                at=START + timedelta(seconds=n),
            ),
        )
        for n in range(count)
    ]


def deployment(url: str) -> tuple[Any, Hooks, ZoneStores]:
    """A Japanese deployment on one zone, ``jp``, where every class of Japan's data lives."""
    hooks = Hooks(get_plugin_manager(entry_points=False))
    settings = load_settings(
        hooks,
        zones={"jp": url},
        home_zone="jp",
        deployment={"market": "JP"},
        channel_accounts={ACCOUNT: DRIVER.account_settings()},
    )
    stores = ZoneStores.open(settings, hooks)
    Migrator(stores, hooks).upgrade()
    return settings, hooks, stores


def in_process(url: str, messages: list[tuple[str, bytes]]) -> float:
    settings, hooks, stores = deployment(url)
    registry = hooks.channel_registry(settings)
    channel, account = registry.channels["line"], registry.accounts[ACCOUNT]
    webhook = f"http://127.0.0.1/webhooks/line/{ACCOUNT}"

    def work_off() -> None:
        batch = claim(stores, "benchmark", limit=BATCH)
        done = process_batch(stores, hooks, registry, batch)
        assert None not in done, "a message was not processed"

    def run() -> None:
        for number, (_sender, body) in enumerate(messages, start=1):
            signed = DRIVER.sign(webhook, body, at=START)
            request = WebhookRequest(
                "POST", webhook, {}, signed.headers, signed.body, datetime.now(UTC)
            )
            channel.verify(account, request)
            parsed = channel.parse(account, request)
            with stores.session() as session:
                store(session, account, parsed, hooks=hooks, channel=channel)
            if number % BATCH == 0:
                work_off()
        work_off()

    try:
        return timed("pipeline, in process", len(messages), "msgs", run)
    finally:
        stores.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(app: Any, port: int) -> Iterator[None]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join()


def over_http(url: str, messages: list[tuple[str, bytes]]) -> float:
    settings, hooks, stores = deployment(url)
    stores.dispose()
    app = create_app(settings, hooks)
    port = free_port()
    webhook = f"http://127.0.0.1:{port}/webhooks/line/{ACCOUNT}"
    signed = [DRIVER.sign(webhook, body, at=START) for _sender, body in messages]

    def run() -> None:
        with httpx.Client() as client:
            for request in signed:
                client.post(
                    webhook, content=request.body, headers=request.headers
                ).raise_for_status()
        app.state.services.inbox.drain()

    with served(app, port):
        return timed("pipeline, HTTP on loopback", len(messages), "msgs", run)


def raw_sql(url: str, messages: list[tuple[str, bytes]]) -> float:
    _settings, _hooks, stores = deployment(url)
    engine = stores.engine("jp")
    customers: dict[str, Any] = {}

    def run() -> None:
        for n, (user, _body) in enumerate(messages):
            now = datetime.now(UTC)
            with engine.begin() as connection:
                if user not in customers:
                    customers[user] = new_id()
                    write(
                        engine,
                        connection,
                        "INSERT INTO customers (id, market, kind, created, updated)"
                        " VALUES (:id, 'JP', 'person', :now, :now)",
                        id=customers[user],
                        now=now,
                    )
                    write(
                        engine,
                        connection,
                        "INSERT INTO identities (id, market, customer_id, kind, value, verified,"
                        " created, updated) VALUES (:id, 'JP', :customer, 'line', :value,"
                        " false, :now, :now)",
                        id=new_id(),
                        customer=customers[user],
                        value=user,
                        now=now,
                    )
                interaction = new_id()
                write(
                    engine,
                    connection,
                    "INSERT INTO interactions (id, market, customer_id, channel, direction,"
                    " touchpoint, text, occurred_at, created, updated) VALUES (:id, 'JP',"
                    " :customer, 'line', 'inbound', :account, :text, :now, :now, :now)",
                    id=interaction,
                    customer=customers[user],
                    account=ACCOUNT,
                    text=f"message {n}",
                    now=now,
                )
                write(
                    engine,
                    connection,
                    "INSERT INTO inbox_messages (id, market, channel, channel_account,"
                    " external_id, received_at, payload, status, customer_id, interaction_id,"
                    " created, updated) VALUES (:id, 'JP', 'line', :account, :external, :now,"
                    " '{}', 'processed', :customer, :interaction, :now, :now)",
                    id=new_id(),
                    account=ACCOUNT,
                    external=f"raw-{n}",
                    customer=customers[user],
                    interaction=interaction,
                    now=now,
                )

    try:
        return timed("raw SQL, same rows", len(messages), "msgs", run)
    finally:
        stores.dispose()


def write(engine: Engine, connection: Any, sql: str, **values: Any) -> None:
    """Execute with values as the raw driver takes them: SQLite keeps UUIDs as hex and
    timestamps as naive UTC text."""
    if engine.dialect.name == "sqlite":
        values = {
            key: value.hex
            if hasattr(value, "hex") and not isinstance(value, str | bytes)
            else value.replace(tzinfo=None).isoformat(sep=" ")
            if isinstance(value, datetime)
            else value
            for key, value in values.items()
        }
    connection.execute(text(sql), values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="use a scratch PostgreSQL db")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=200)
    args = parser.parse_args()
    with ExitStack() as stack:
        urls = []
        for _ in range(3):  # a fresh database for each path, so none inherits the others' rows
            if args.postgres:
                urls.append(
                    stack.enter_context(scratch_database()).render_as_string(hide_password=False)
                )
            else:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                urls.append(f"sqlite:///{folder / 'main.db'}")
        print(
            f"{'PostgreSQL' if args.postgres else 'SQLite'}: {args.messages} messages"
            f" from {args.senders} senders"
        )
        raw = raw_sql(urls[0], bodies(args.messages, args.senders, 0))
        local = in_process(urls[1], bodies(args.messages, args.senders, 0))
        http = over_http(urls[2], bodies(args.messages, args.senders, 0))
        print(f"in process / raw SQL: {local / raw:6.1%}")
        print(f"over HTTP / raw SQL:  {http / raw:6.1%}")


if __name__ == "__main__":
    main()
