"""Waiting inbox rows put straight into a zone, and claimers racing for them: shared by
the lease tests on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import insert, select

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.messaging.inbox import claim
from regiocrm.models import InboxMessage, InboxStatus
from regiocrm.models.base import utcnow
from regiocrm.platform.ids import new_id
from regiocrm.platform.stores import ZoneStores


def put_waiting(stores: ZoneStores, count: int, market: str = "JP") -> list[uuid.UUID]:
    """``count`` received messages of a LINE account of ``market``, oldest first."""
    now = utcnow()
    ids = [new_id() for _ in range(count)]
    with stores.session() as session:
        zone = session.residency.zone_for(market, DataClass.CRM)
        session.zone_connection(zone).execute(
            insert(InboxMessage),
            [
                {
                    "id": inbox_id,
                    "market": market,
                    "channel": "line",
                    "channel_account": "line_jp",
                    "external_id": f"m{number}",
                    "received_at": now + timedelta(microseconds=number),
                    "payload": "{}",
                    "status": InboxStatus.RECEIVED,
                    "created": now,
                    "updated": now,
                }
                for number, inbox_id in enumerate(ids)
            ],
        )
    return ids


def claimed_by(stores: ZoneStores) -> dict[uuid.UUID, str | None]:
    with stores.session() as session:
        rows = session.execute(select(InboxMessage.id, InboxMessage.claimed_by))
        return {inbox_id: owner for inbox_id, owner in rows}


def race(claimers: list[ZoneStores], *, batch: int) -> list[list[uuid.UUID]]:
    """Each claimer, on its own thread and connections, claims batches until none is left;
    started together. Returns what each claimed."""
    start = threading.Barrier(len(claimers))
    taken: list[list[uuid.UUID]] = [[] for _ in claimers]
    failures: list[BaseException] = []

    def run(number: int, stores: ZoneStores) -> None:
        try:
            start.wait()
            while found := claim(stores, f"claimer-{number}", limit=batch):
                taken[number].extend(inbox.id for inbox in found)
        except BaseException as exc:
            failures.append(exc)

    threads = [
        threading.Thread(target=run, args=(number, stores))
        for number, stores in enumerate(claimers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    return taken


def assert_claimed_once_each(
    stores: ZoneStores,
    open_claimer: Callable[[], ZoneStores],
    count: int,
    claimers: int,
    batch: int,
) -> None:
    """``claimers`` stores opened on the same zones race to claim ``count`` waiting messages
    ``batch`` at a time: each message is claimed exactly once, by the claimer that holds it."""
    ids = put_waiting(stores, count)
    opened = [open_claimer() for _ in range(claimers)]
    try:
        taken = race(opened, batch=batch)
    finally:
        for claimer in opened:
            claimer.dispose()
    every = [inbox_id for claimed in taken for inbox_id in claimed]
    assert sorted(every) == sorted(ids), "each message claimed exactly once"
    owners = claimed_by(stores)
    for number, claimed in enumerate(taken):
        assert {owners[inbox_id] for inbox_id in claimed} <= {f"claimer-{number}"}
