"""Inbound messages for front ends: a provider's webhook delivery kept before it is
answered, and the inbox the operator watches and retries.

A delivery goes in a fixed order, so that nothing unverified is ever parsed or stored and
nothing stored is ever lost: the account is looked up, the raw body's signature is checked,
the body is parsed, every message is stored in the inbox with its auto-reply (a redelivery
finds its row and its reply; a signature that leaves the body out is recorded with it, and
refused with another body) and committed, and only then is the provider's answer made
(with that reply where the channel takes one). The inbox worker then resolves the sender,
writes the timeline and calls the event hooks, through the application's pipeline, which
``regiocrm inbox retry`` runs too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from regiocrm.crm.campaigns import record_receipts
from regiocrm.interfaces.channels import (
    Channel,
    ChannelAccount,
    Reply,
    WebhookRequest,
    WebhookResponse,
)
from regiocrm.interfaces.terms import InboxStatus
from regiocrm.messaging.inbox import (
    InboxWorker,
    Stored,
    remember_signature,
    requeue_failed,
    storable,
    store,
    waiting,
)
from regiocrm.messaging.polling import (
    AccountPolling,
    PollResult,
    PollRunner,
    PollState,
    poll_once,
    poll_states,
    polled_accounts,
)
from regiocrm.models import InboxMessage
from regiocrm.platform.stores import ZonedSession
from regiocrm.services.application import Application

# `regiocrm inbox status` names the oldest failures; the counts say how many there are.
FAILURES_SHOWN = 20


class UnknownAccount(LookupError):
    """No account of that name on that channel."""


class DatabaseFailed(Exception):
    """The database failed during a retry (unreachable, restarted, its disk full), with its
    reason: the messages not processed are still waiting."""


@dataclass(frozen=True)
class AccountCounts:
    """How many of an account's messages are in each state of the inbox."""

    account: str
    by_status: dict[InboxStatus, int]

    def as_json(self) -> dict[str, Any]:
        return {"account": self.account, **{s.value: n for s, n in self.by_status.items()}}


@dataclass(frozen=True)
class FailedMessage:
    """A message whose processing failed, with the reason kept on its row."""

    account: str
    external_id: str
    error: str | None

    def as_json(self) -> dict[str, Any]:
        return {"account": self.account, "external_id": self.external_id, "error": self.error}


@dataclass(frozen=True)
class InboxReport:
    """The inbox of every zone: counts per account, the oldest failures, and where each
    polled account (a mailbox) stands."""

    accounts: list[AccountCounts]
    failed: list[FailedMessage]
    mailboxes: list[PollState]

    @property
    def unreachable(self) -> list[PollState]:
        return [state for state in self.mailboxes if state.error is not None]

    def as_json(self) -> dict[str, Any]:
        return {
            "accounts": [counts.as_json() for counts in self.accounts],
            "failed": [failure.as_json() for failure in self.failed],
            "mailboxes": [_state_json(state) for state in self.mailboxes],
        }


def _state_json(state: PollState) -> dict[str, Any]:
    def moment(at: datetime | None) -> str | None:
        return None if at is None else at.isoformat()

    return {
        "account": state.account,
        "polled_at": moment(state.polled_at),
        "error": state.error,
        "failing_since": moment(state.failing_since),
    }


@dataclass(frozen=True)
class Retried:
    """What a retry did: failed messages put back, then every waiting message processed
    or failed again."""

    requeued: int
    processed: int
    failed: int


# (done, total): called before the first message and after each.
Progress = Callable[[int, int], None]


class InboundService:
    """Inbound messages: each delivery kept in one transaction, committed before its
    answer is made."""

    def __init__(self, app: Application) -> None:
        self.app = app

    def handshake(self, channel: str, account: str, request: WebhookRequest) -> WebhookResponse:
        """The provider's verification of its webhook URL for one channel account
        (WeChat's echostr, WhatsApp's hub.challenge); nothing is stored.

        :raises UnknownAccount: for no account of that name on that channel.
        :raises regiocrm.interfaces.channels.ChannelError: for a request the channel
            refuses, with the HTTP status to answer.
        """
        handler, found = self._account(channel, account)
        return handler.handshake(found, request)

    def deliver(self, channel: str, account: str, request: WebhookRequest) -> WebhookResponse:
        """Keep a provider's delivery to one channel account and make its answer.

        The messages are stored with their auto-replies (once: a redelivery finds them)
        and the delivery receipts applied to campaign members, in one transaction (shared
        with the deliveries that arrive alongside), which commits before the answer is
        made; the messages stored are then handed to the inbox worker.

        :raises UnknownAccount: for no account of that name on that channel.
        :raises regiocrm.interfaces.channels.ChannelError: for a request the channel
            refuses (signature missing, wrong or replayed; body malformed), with the HTTP
            status to answer; nothing is stored.
        :raises sqlalchemy.exc.SQLAlchemyError: when the delivery cannot be kept (its
            commit fails): the provider must not be told it was.
        """
        handler, found = self._account(channel, account)
        handler.verify(found, request)
        signature = handler.bodyless_signature(found, request)
        messages = handler.parse(found, request)
        receipts = handler.receipts(found, request)

        def keep(session: ZonedSession) -> list[Stored]:
            if signature is not None:
                remember_signature(session, found, signature, request.body)
            stored = store(session, found, messages, hooks=self.app.hooks, channel=handler)
            record_receipts(session, [storable(receipt) for receipt in receipts])
            return stored

        # Deliveries arriving together share a transaction: see regiocrm.platform.group_commit.
        stored = self.app.group_commit.run(keep)
        answer = handler.respond(found, request, messages, _passive_replies(handler, stored))
        self.app.inbox.submit([s.inbox for s in stored if s.inbox is not None])
        return answer

    def report(self) -> InboxReport:
        """How many messages of each account are waiting, processed or failed, across
        every zone, and the oldest failures with their reasons."""
        by_status = select(
            InboxMessage.channel_account, InboxMessage.status, func.count()
        ).group_by(InboxMessage.channel_account, InboxMessage.status)
        oldest_failures = (
            select(InboxMessage.channel_account, InboxMessage.external_id, InboxMessage.error)
            .where(InboxMessage.status == InboxStatus.FAILED)
            .order_by(InboxMessage.received_at)
            .limit(FAILURES_SHOWN)
        )
        with self.app.transaction() as session:
            rows = [
                row
                for zone in self.app.stores.names
                for row in session.execute(by_status.execution_options(zones=[zone]))
            ]
            failures = session.execute(oldest_failures).all()
        counts: dict[str, dict[InboxStatus, int]] = {}
        for account, state, count in sorted(rows):
            counts.setdefault(account, dict.fromkeys(InboxStatus, 0))[state] += count
        polled = [account for _, account in polled_accounts(self.app.channels)]
        return InboxReport(
            [AccountCounts(account, states) for account, states in counts.items()],
            [FailedMessage(*failure) for failure in failures],
            poll_states(self.app.stores, polled),
        )

    def poll(self, account: str | None = None) -> list[PollResult]:
        """Poll each polled account (or the one named) once, now, in this process, and
        take what was stored through the application's pipeline, as ``regiocrm worker``
        does; a mailbox that cannot be reached is recorded, as the worker records it, and
        reported in its result.

        :raises UnknownAccount: for a name that is no polled account.
        """
        accounts = polled_accounts(self.app.channels)
        if account is not None:
            accounts = [found for found in accounts if found[1].name == account]
            if not accounts:
                raise UnknownAccount(f"no polled account named {account!r}")
        results = []
        for channel, found in accounts:
            control = AccountPolling(self.app.stores, self.app.hooks, channel, found, once=True)
            result = poll_once(control)
            # A message that fails is kept with the reason: `regiocrm inbox status` shows it.
            self.app.pipeline.batch(result.stored)
            results.append(result)
        return results

    def retry(self, *, progress: Progress | None = None) -> Retried:
        """Put failed messages back and take every waiting message through the
        application's pipeline, now, in this process, as the serving process's inbox
        worker does: auto-replies still to be sent are sent, once.

        A message that fails again keeps its reason on its row (see :meth:`report`).

        :raises DatabaseFailed: when the database fails meanwhile: the rest would fail with
            it, so the retry stops, and the message it was at stays waiting (the pipeline
            does not mark it failed), with those after it.
        """
        requeued = requeue_failed(self.app.stores)
        pending = waiting(self.app.stores)
        processed = failed = 0
        if progress is not None:
            progress(0, len(pending))
        for done, inbox in enumerate(pending, start=1):
            try:
                if self.app.pipeline(inbox) is not None:
                    processed += 1
            except OperationalError as exc:
                raise DatabaseFailed(str(exc.orig)) from exc
            except Exception:
                # The pipeline marked the row failed with the reason: the report shows it.
                failed += 1
            if progress is not None:
                progress(done, len(pending))
        return Retried(requeued, processed, failed)

    def _account(self, channel: str, account: str) -> tuple[Channel, ChannelAccount]:
        found = self.app.channels.account(channel, account)
        if found is None:
            raise UnknownAccount(f"no {channel} account named {account!r}")
        return found


def mailbox_polling(app: Application, worker: InboxWorker | None) -> PollRunner:
    """The threads ``regiocrm worker`` polls the mailboxes in, handing what they store to
    ``worker`` (None: left for another process's worker); the caller starts and stops it."""
    return PollRunner(
        app.stores,
        app.hooks,
        app.channels,
        submit=(lambda stored: None) if worker is None else worker.submit,
    )


def _passive_replies(channel: Channel, stored: list[Stored]) -> list[Reply]:
    """The replies kept with the messages, where the channel takes them in the answer."""
    if not channel.replies_in_response:
        return []
    return [Reply(s.message, s.reply) for s in stored if s.reply is not None]
