"""Polled accounts: channel accounts whose messages regiocrm fetches itself (an IMAP
mailbox), where the others' providers post them to a webhook.

Each polled account runs in a thread of ``regiocrm worker`` (or once, with ``regiocrm
inbox poll``) through its channel's :meth:`~regiocrm.interfaces.channels.Channel.poll`,
with an :class:`AccountPolling` as its control. What a poll fetched is kept as a webhook's
delivery is: stored in the inbox once each (a message fetched again is found by its id),
its receipts applied, in one transaction that also keeps the channel's cursor, and only
once that committed does the channel mark the messages done on its side. A crash in
between fetches them again, and the inbox keeps them once.

Whether the provider answers is kept with the cursor (:class:`~regiocrm.models.PolledAccount`),
so that ``regiocrm inbox status`` and ``regiocrm rollout check``, in other processes, can
say a mailbox is unreachable and since when; the thread keeps trying, with growing pauses,
and polling resumes by itself when the mailbox answers again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from regiocrm.crm.campaigns import record_receipts
from regiocrm.interfaces.channels import (
    Channel,
    ChannelAccount,
    ChannelRegistry,
    Fetched,
    InboundMessage,
    PollControl,
    PollFailed,
)
from regiocrm.interfaces.event_sources import Backoff
from regiocrm.messaging.inbox import InboxRef, refusal, storable, store
from regiocrm.models import PolledAccount
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.stores import ZonedSession, ZoneStores

log = logging.getLogger(__name__)


@dataclass
class PollResult:
    """What the polls of one account did, for ``regiocrm inbox poll`` and the worker's log.

    :param stored: messages new to the inbox.
    :param refused: messages that cannot be kept, with the reason (by message id).
    :param error: why the last poll failed; None when it succeeded.
    """

    account: str
    stored: list[InboxRef] = field(default_factory=list)
    fetched: int = 0
    refused: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "fetched": self.fetched,
            "stored": len(self.stored),
            "refused": self.refused,
            "error": self.error,
        }


class AccountPolling(PollControl):
    """The control :meth:`Channel.poll` gets for one account.

    :param submit: hands the messages stored to the inbox worker, once committed.
    """

    def __init__(
        self,
        stores: ZoneStores,
        hooks: Hooks,
        channel: Channel,
        account: ChannelAccount,
        *,
        once: bool = False,
        stopping: threading.Event | None = None,
        submit: Callable[[Sequence[InboxRef]], None] = lambda stored: None,
    ) -> None:
        self.stores = stores
        self.hooks = hooks
        self.channel = channel
        self.account = account
        self.once = once
        self.stopping = stopping or threading.Event()
        self.submit = submit
        self.result = PollResult(account.name)
        with stores.session() as session:
            state = _state(session, account)
            self.cursor = None if state is None else state.cursor
            self._failing = state is not None and state.error is not None

    def keep(self, fetched: Fetched) -> dict[str, str]:
        """Store what a poll fetched, apply its receipts and keep its cursor, in one
        transaction; the messages that cannot be kept are left out, and returned with the
        reason by message id, for the channel to mark as such rather than fetch again."""
        refused: dict[str, str] = {}
        keepable: list[InboundMessage] = []
        for message in fetched.messages:
            reason = refusal(self.hooks, self.account, message)
            if reason is None:
                keepable.append(message)
            else:
                refused[message.external_id] = reason
                log.warning(
                    "%s: message %s refused: %s", self.account.name, message.external_id, reason
                )
        now = utcnow()
        with self.stores.session() as session:
            stored = store(session, self.account, keepable, hooks=self.hooks, channel=self.channel)
            record_receipts(session, [storable(receipt) for receipt in fetched.receipts])
            state = _state(session, self.account) or _new_state(session, self.account)
            state.cursor, state.polled_at = fetched.cursor, now
            state.error = state.failing_since = None
        self.cursor = fetched.cursor
        self._failing = False
        new = [s.inbox for s in stored if s.inbox is not None]
        self.result.stored.extend(new)
        self.result.fetched += len(fetched.messages)
        self.result.refused.update(refused)
        self.result.error = None
        self.submit(new)
        return refused

    def connected(self) -> None:
        """The provider answered: a failure recorded is over; the time of the poll is kept."""
        self.result.error = None
        with self.stores.session() as session:
            state = _state(session, self.account) or _new_state(session, self.account)
            state.polled_at = utcnow()
            state.error = state.failing_since = None
        if self._failing:
            log.warning("%s: the provider answers again", self.account.name)
        self._failing = False

    def failed(self, reason: str) -> None:
        """The provider cannot be reached or refused: keep why, and since when."""
        self.result.error = reason
        if not self._failing:
            log.error("%s cannot be polled: %s", self.account.name, reason)
        with self.stores.session() as session:
            state = _state(session, self.account) or _new_state(session, self.account)
            if state.error is None:
                state.failing_since = utcnow()
            state.error = reason[:2000]
        self._failing = True


def _state(session: ZonedSession, account: ChannelAccount) -> PolledAccount | None:
    return session.scalar(
        select(PolledAccount).where(PolledAccount.channel_account == account.name)
    )


def _new_state(session: ZonedSession, account: ChannelAccount) -> PolledAccount:
    state = PolledAccount(market=account.market, channel_account=account.name)
    session.add(state)
    return state


def polled_accounts(registry: ChannelRegistry) -> list[tuple[Channel, ChannelAccount]]:
    """The configured accounts whose channel fetches their messages, by name."""
    found = []
    for name in sorted(registry.accounts):
        account = registry.accounts[name]
        channel = registry.channels.get(account.channel)
        if channel is not None and channel.polls(account):
            found.append((channel, account))
    return found


def poll_once(control: AccountPolling) -> PollResult:
    """One round of polling of the control's account; a failure is recorded and returned,
    not raised."""
    try:
        control.channel.poll(control.account, control)
    except PollFailed as exc:
        control.failed(str(exc))
    return control.result


@dataclass(frozen=True)
class PollState:
    """Where a polled account stands, as the worker last recorded it."""

    account: str
    polled_at: datetime | None
    error: str | None
    failing_since: datetime | None


def poll_states(stores: ZoneStores, accounts: Sequence[ChannelAccount]) -> list[PollState]:
    """What the workers last recorded of each of ``accounts``; an account never polled has
    neither a time nor an error."""
    with stores.session() as session:
        found = {
            state.channel_account: state
            for state in session.scalars(
                select(PolledAccount).where(
                    PolledAccount.channel_account.in_([a.name for a in accounts])
                )
            )
        }
    states = []
    for account in accounts:
        state = found.get(account.name)
        if state is None:
            states.append(PollState(account.name, None, None, None))
        else:
            states.append(
                PollState(account.name, state.polled_at, state.error, state.failing_since)
            )
    return states


class PollRunner:
    """Polls each polled account in a thread of its own until :meth:`stop`, trying again
    with growing pauses (:class:`~regiocrm.interfaces.event_sources.Backoff`) while its
    provider cannot be reached."""

    def __init__(
        self,
        stores: ZoneStores,
        hooks: Hooks,
        registry: ChannelRegistry,
        *,
        submit: Callable[[Sequence[InboxRef]], None],
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self.stores = stores
        self.hooks = hooks
        self.accounts = polled_accounts(registry)
        self.submit = submit
        self.backoff = backoff
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self.stopping.clear()
        for channel, account in self.accounts:
            thread = threading.Thread(
                target=self._run,
                args=(channel, account),
                name=f"regiocrm-poll-{account.name}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()

    def _run(self, channel: Channel, account: ChannelAccount) -> None:
        delays = self.backoff().delays()
        while not self.stopping.is_set():
            try:
                control = AccountPolling(
                    self.stores,
                    self.hooks,
                    channel,
                    account,
                    stopping=self.stopping,
                    submit=self.submit,
                )
            except Exception:
                log.exception("polling %s cannot start: the database failed", account.name)
                self.stopping.wait(next(delays))
                continue
            try:
                channel.poll(account, control)
                delays = self.backoff().delays()
            except PollFailed as exc:
                control.failed(str(exc))
                self.stopping.wait(next(delays))
            except Exception:
                # The database, or a plugin's bug: logged, and tried again after a pause.
                log.exception("polling %s failed", account.name)
                self.stopping.wait(next(delays))

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every thread to stop and wait for each (up to ``timeout`` seconds)."""
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
