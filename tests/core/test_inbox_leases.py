"""Claims on the inbox are leases: one claimer per message, a live lease kept, a lapsed
one taken over, and workers in several processes processing each message once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import timedelta

from inbox_leases import assert_claimed_once_each, claimed_by, put_waiting
from sqlalchemy import update

from regiocrm.messaging.inbox import (
    LEASE,
    InboxRef,
    InboxWorker,
    claim,
    release,
    renew,
    requeue_failed,
)
from regiocrm.models import InboxMessage, InboxStatus
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores


def test_two_claimers_never_get_the_same_message(
    migrated: ZoneStores, settings: RegiocrmSettings, regiocrm_hooks: Hooks
) -> None:
    assert_claimed_once_each(
        migrated, lambda: ZoneStores.open(settings, regiocrm_hooks), 120, claimers=3, batch=7
    )


def test_a_claim_takes_the_oldest_first_up_to_the_limit(migrated: ZoneStores) -> None:
    ids = put_waiting(migrated, 5)
    assert [inbox.id for inbox in claim(migrated, "a", limit=3)] == ids[:3]
    assert [inbox.id for inbox in claim(migrated, "b", limit=3)] == ids[3:]


def test_a_live_lease_is_not_taken(migrated: ZoneStores) -> None:
    put_waiting(migrated, 3)
    now = utcnow()
    assert len(claim(migrated, "a", now=now)) == 3
    assert claim(migrated, "b", now=now + LEASE - timedelta(seconds=1)) == []
    assert set(claimed_by(migrated).values()) == {"a"}


def test_a_lapsed_lease_is_taken_over(migrated: ZoneStores) -> None:
    """The claimer died: its messages go to another once the lease lapses."""
    ids = put_waiting(migrated, 3)
    now = utcnow()
    claim(migrated, "dead", now=now)
    taken = claim(migrated, "alive", now=now + LEASE + timedelta(seconds=1))
    assert sorted(inbox.id for inbox in taken) == sorted(ids)
    assert set(claimed_by(migrated).values()) == {"alive"}


def test_a_renewed_lease_holds_past_the_first_term(migrated: ZoneStores) -> None:
    put_waiting(migrated, 2)
    now = utcnow()
    [zone] = {inbox.zone for inbox in claim(migrated, "a", now=now)}
    renew(migrated, "a", [zone], now=now + LEASE - timedelta(seconds=1))
    assert claim(migrated, "b", now=now + LEASE + timedelta(seconds=1)) == []
    assert len(claim(migrated, "b", now=now + 2 * LEASE)) == 2


def test_released_messages_are_claimed_at_once(migrated: ZoneStores) -> None:
    put_waiting(migrated, 2)
    claim(migrated, "a")
    release(migrated, "a")
    assert set(claimed_by(migrated).values()) == {None}
    assert len(claim(migrated, "b")) == 2


def test_only_waiting_messages_are_claimed(migrated: ZoneStores) -> None:
    [done, failed, left] = put_waiting(migrated, 3)
    with migrated.session() as session:
        for inbox_id, status in ((done, InboxStatus.PROCESSED), (failed, InboxStatus.FAILED)):
            session.execute(
                update(InboxMessage).where(InboxMessage.id == inbox_id).values(status=status)
            )
    assert [inbox.id for inbox in claim(migrated, "a")] == [left]


def test_a_requeued_failure_is_claimable_at_once(migrated: ZoneStores) -> None:
    [inbox_id] = put_waiting(migrated, 1)
    claim(migrated, "a")
    with migrated.session() as session:
        session.execute(update(InboxMessage).values(status=InboxStatus.FAILED))
    assert requeue_failed(migrated) == 1
    assert [inbox.id for inbox in claim(migrated, "b")] == [inbox_id]


class Recording:
    """A pipeline that notes which worker took each message, then marks it processed once
    (as the real one's guarded update does)."""

    def __init__(self, stores: ZoneStores, name: str, seen: list[tuple[str, uuid.UUID]]) -> None:
        self.stores, self.name, self.seen = stores, name, seen

    def __call__(self, batch: Sequence[InboxRef]) -> None:
        for inbox in batch:
            self.seen.append((self.name, inbox.id))
            with self.stores.session() as session:
                session.zone_connection(inbox.zone).execute(
                    update(InboxMessage)
                    .where(InboxMessage.id == inbox.id, InboxMessage.status == InboxStatus.RECEIVED)
                    .values(status=InboxStatus.PROCESSED)
                )


def test_two_workers_process_each_message_once(
    migrated: ZoneStores, settings: RegiocrmSettings, regiocrm_hooks: Hooks
) -> None:
    ids = put_waiting(migrated, 60)
    seen: list[tuple[str, uuid.UUID]] = []
    processes = [ZoneStores.open(settings, regiocrm_hooks) for _ in range(2)]
    workers = [
        InboxWorker(stores, Recording(stores, f"w{n}", seen), batch=5)
        for n, stores in enumerate(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.drain()
        worker.stop()
    for stores in processes:
        stores.dispose()
    assert sorted(inbox_id for _, inbox_id in seen) == sorted(ids)
    assert set(claimed_by(migrated).values()) <= {worker.owner for worker in workers}


def test_a_worker_finds_what_another_process_stored_and_releases_it_on_stop(
    migrated: ZoneStores,
) -> None:
    """Nothing submitted to it: the worker finds the message by polling. Its pipeline
    leaves the message waiting, and stopping gives the lease up."""
    took = threading.Event()
    worker = InboxWorker(migrated, lambda batch: took.set(), poll_seconds=0.05)
    worker.start()
    put_waiting(migrated, 1)
    assert took.wait(60), "the worker never found the message"
    assert set(claimed_by(migrated).values()) == {worker.owner}
    worker.stop()
    assert set(claimed_by(migrated).values()) == {None}


def test_a_server_that_leaves_the_inbox_to_regiocrm_worker_claims_nothing(
    migrated: ZoneStores,
) -> None:
    """``[inbox] process_in_server = false``: the serving process's worker is off."""
    took: list[InboxRef] = []
    worker = InboxWorker(migrated, took.extend, enabled=False)
    [inbox_id] = put_waiting(migrated, 1)
    worker.submit([InboxRef(migrated.home, inbox_id)])
    worker.start()
    worker.drain()
    worker.stop()
    assert took == []
    assert set(claimed_by(migrated).values()) == {None}
