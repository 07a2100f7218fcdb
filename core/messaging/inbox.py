"""The inbox: inbound messages stored once, answered fast, processed after.

A webhook stores each parsed message as an :class:`~regiocrm.models.InboxMessage` before it
answers the provider, unique per channel account and provider message id: a retry or a
redelivery finds its row and is acknowledged without being stored twice. Resolving the
sender, writing the timeline and the ``message_received`` hooks happen afterwards, on the
:class:`InboxWorker`, so heavy work never delays the provider's answer. A message whose
processing was cut short (a crash, a restart) is still ``received`` in the inbox. Workers
claim waiting messages as leases (:func:`claim`), in any process: a message whose claimer
died is taken over by another worker once its lease lapses, within seconds.

The inbox row lives in the zone of its account's market, the customer in their identity
zone and the timeline entry in their crm zone: three databases, perhaps. Processing writes
them in that order, each step safe to repeat: resolving finds the customer an interrupted
attempt created, and the timeline entry's id is derived from the inbox row's, so a second
attempt finds the entry instead of adding one. Marking the row processed comes last (in the
same transaction as the timeline entry where both share a zone), so a message is on the
timeline exactly once and ``message_received`` fires exactly once.

Auto-replies are decided once, by the ``auto_reply`` hook, in the insert that stores the
message, for every channel: the reply is kept with the inbox row. A channel that takes
replies in the HTTP answer gets that text, a redelivery too; for the others the inbox
pipeline (:class:`regiocrm.messaging.pipeline.InboxPipeline`) sends it and notes on the row what was
sent. The reply goes on the timeline with the message, from the row, so the timeline shows
exactly the text that went out, once, however often processing is retried.

What is stored is what both databases can keep: nothing a provider acknowledged may fail
later for its content, so :func:`storable` replaces the characters one of them refuses
before any row is written.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import os
import re
import secrets
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar, cast

import httpx
from sqlalchemy import (
    Connection,
    Select,
    String,
    Update,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import QueryableAttribute

from regiocrm.crm import timeline
from regiocrm.crm.cases import OPEN
from regiocrm.crm.customers import Customers, Resolution
from regiocrm.interfaces.channels import (
    Attachment,
    AutoReplyLimit,
    BodylessSignature,
    Channel,
    ChannelAccount,
    ChannelRegistry,
    IdentityRef,
    InboundMessage,
    MalformedPayload,
    ReplayedSignature,
    SendError,
)
from regiocrm.interfaces.identities import InvalidIdentity
from regiocrm.models import (
    CampaignMember,
    Case,
    DataClass,
    DeliveryStatus,
    Direction,
    Identity,
    InboxMessage,
    InboxStatus,
    Interaction,
    ReplyStatus,
    SeenSignature,
)
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import negotiate
from regiocrm.platform.ids import derived_id, new_id
from regiocrm.platform.stores import ZonedSession, ZoneStores, after_commit
from regiocrm.residency.rules import ResidencyError

log = logging.getLogger(__name__)


# PostgreSQL refuses NUL in text, and a lone surrogate has no UTF-8 form for either database.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"

Storable = TypeVar("Storable")


def _length(attribute: QueryableAttribute[Any]) -> int:
    column_type = attribute.type
    if not isinstance(column_type, String) or column_type.length is None:
        raise TypeError(f"{attribute} is not a string column of a set length")
    return column_type.length


# What the columns keep: a message id on the inbox and the timeline, an identity's value.
MAX_EXTERNAL_ID = min(_length(InboxMessage.external_id), _length(Interaction.external_id))
MAX_IDENTITY = _length(Identity.value)
MAX_SUMMARY = _length(Interaction.summary)


def storable(value: Storable) -> Storable:
    """``value`` with every character no database keeps replaced by U+FFFD, in each string
    of it: a string, a tuple, or a dataclass (an inbound message, its identities, a
    receipt) taken apart field by field."""
    return cast("Storable", _replaced(value))


def _replaced(value: Any) -> Any:
    if isinstance(value, str):
        # A clean string is kept as it is: a StrEnum member (a receipt's status) stays one.
        return UNSTORABLE.sub(REPLACEMENT, value) if UNSTORABLE.search(value) else value
    if isinstance(value, tuple):
        return tuple(_replaced(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return dataclasses.replace(
            value, **{f.name: _replaced(getattr(value, f.name)) for f in fields}
        )
    return value


def message_to_json(message: InboundMessage) -> str:
    # Field by field rather than asdict(), whose deep copies cost more than the webhook's
    # insert: every inbound message is written this way.
    data = {field: getattr(message, field) for field in _MESSAGE_FIELDS}
    data["identities"] = [{"kind": i.kind, "value": i.value} for i in message.identities]
    data["occurred_at"] = message.occurred_at.isoformat()
    data["attachments"] = [_attachment_to_json(a) for a in message.attachments]
    return json.dumps(data, ensure_ascii=False)


_MESSAGE_FIELDS = [field.name for field in dataclasses.fields(InboundMessage)]


def _attachment_to_json(attachment: Attachment) -> dict[str, Any]:
    content = attachment.content
    return {
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "content": None if content is None else base64.b64encode(content).decode("ascii"),
    }


def message_from_json(payload: str) -> InboundMessage:
    data: dict[str, Any] = json.loads(payload)
    data["identities"] = tuple(IdentityRef(**identity) for identity in data["identities"])
    data["occurred_at"] = datetime.fromisoformat(data["occurred_at"])
    data["thread"] = tuple(data.get("thread", ()))
    data["attachments"] = tuple(
        Attachment(
            filename=kept["filename"],
            content_type=kept["content_type"],
            size=kept["size"],
            content=None if kept["content"] is None else base64.b64decode(kept["content"]),
        )
        for kept in data.get("attachments", ())
    )
    return InboundMessage(**data)


@dataclass(frozen=True)
class InboxRef:
    """Where one inbox row is: its zone and its id."""

    zone: str
    id: uuid.UUID


@dataclass(frozen=True)
class Stored:
    """A message of a webhook request, and its inbox row if this delivery stored it (None
    when an earlier delivery already had).

    :param reply: the auto-reply kept with the row, whichever delivery stored it.
    """

    message: InboundMessage
    inbox: InboxRef | None
    reply: str | None


TIMELINE = "timeline"
AUTO_REPLY = "auto-reply"


def timeline_id(inbox_id: uuid.UUID) -> uuid.UUID:
    """The id of the timeline entry an inbox message becomes."""
    return derived_id(inbox_id, TIMELINE)


def reply_timeline_id(inbox_id: uuid.UUID) -> uuid.UUID:
    """The id of the timeline entry an inbox message's auto-reply becomes."""
    return derived_id(inbox_id, AUTO_REPLY)


def reply_locale(hooks: Hooks, account: ChannelAccount) -> str:
    """Auto-replies are written before the sender is known: in the language of the
    account's market."""
    return str(negotiate(hooks.packs().market(account.market).locale))


def store(
    session: ZonedSession,
    account: ChannelAccount,
    messages: Sequence[InboundMessage],
    *,
    hooks: Hooks,
    channel: Channel,
) -> list[Stored]:
    """Insert each message, with its auto-reply, into the inbox of the account market's
    crm zone unless it is there already.

    Each message is made :func:`storable` first; :class:`Stored` keeps it as stored, and
    the ``auto_reply`` hook sees it so. The hook is asked only for messages not stored yet,
    before anything is written; a redelivery gets the reply its row keeps. It is not asked
    for a message a machine sent (``automated``), nor for one whose sender had as many
    auto-replies as the channel's :meth:`~regiocrm.interfaces.channels.Channel.auto_reply_limit`
    allows, counted from the inbox rows (each keeps its sender's digest). Uses the
    database's own ``ON CONFLICT DO NOTHING`` on the unique (account, message id) key, so
    two deliveries racing each other still store one row and answer with its reply.

    :raises MalformedPayload: for a message id or an identity longer than its column
        (PostgreSQL refuses one, where SQLite would keep it), or a sender whose identity
        is not valid (an SMS from an alphanumeric sender id), before anything is stored.
    """
    zone = session.residency.zone_for(account.market, DataClass.CRM)
    connection = session.zone_connection(zone)
    statement = _INSERT_NEW[connection.dialect.name]
    kept = [storable(message) for message in messages]
    senders = {}
    for message in kept:
        _check_lengths(message)
        senders[message.external_id] = _sender_key(hooks, account, message)
    replies = _kept_replies(connection, account, kept)
    locale = reply_locale(hooks, account)
    now = utcnow()
    answerable = _Answerable(connection, account, channel.auto_reply_limit(account), now)
    for message in kept:
        if message.external_id in replies:
            continue
        reply = None
        if answerable(message, senders[message.external_id]):
            reply = hooks.auto_reply(message=message, account=account, locale=locale)
        replies[message.external_id] = reply
        answerable.replied(senders[message.external_id], reply)
    stored = []
    for message in kept:
        reply = replies[message.external_id]
        row = {
            "id": new_id(),
            "market": account.market,
            "channel": account.channel,
            "channel_account": account.name,
            "external_id": message.external_id,
            "received_at": now,
            "payload": message_to_json(message),
            "sender_key": senders[message.external_id],
            "status": InboxStatus.RECEIVED,
            "created": now,
            "updated": now,
            **_reply_columns(reply, channel, now),
        }
        inserted = connection.execute(statement, row).scalar_one_or_none()
        if inserted is None:
            # Stored before: by an earlier delivery, by this one, or by one racing it.
            reply = _kept_replies(connection, account, [message])[message.external_id]
        replies[message.external_id] = reply
        stored.append(
            Stored(message, None if inserted is None else InboxRef(zone, inserted), reply)
        )
    return stored


def _reply_columns(reply: str | None, channel: Channel, now: datetime) -> dict[str, Any]:
    if reply is None:
        return {"reply": None, "reply_status": None, "replied_at": None}
    if channel.replies_in_response:
        return {"reply": reply, "reply_status": ReplyStatus.IN_ANSWER, "replied_at": now}
    return {"reply": reply, "reply_status": ReplyStatus.TO_SEND, "replied_at": None}


def _kept_replies(
    connection: Connection, account: ChannelAccount, messages: Sequence[InboundMessage]
) -> dict[str, str | None]:
    """The replies kept with those of ``messages`` the inbox has already, by message id."""
    if not messages:
        return {}
    if len(messages) == 1:
        # Most deliveries hold one message: a plain statement, cached whole, where the
        # expanding IN is rendered again for each call.
        found: dict[str, Any] = {"account": account.name, "external_id": messages[0].external_id}
        rows = connection.execute(_KEPT_REPLY, found)
    else:
        found = {"account": account.name, "external_ids": [m.external_id for m in messages]}
        rows = connection.execute(_KEPT_REPLIES, found)
    return {external_id: reply for external_id, reply in rows}


def refusal(hooks: Hooks, account: ChannelAccount, message: InboundMessage) -> str | None:
    """Why :func:`store` would refuse ``message`` (made :func:`storable`); None when it
    would keep it. A polled account leaves such a message out and stores the others."""
    kept = storable(message)
    try:
        _check_lengths(kept)
        _sender_key(hooks, account, kept)
    except MalformedPayload as exc:
        return str(exc)
    return None


def _sender_key(hooks: Hooks, account: ChannelAccount, message: InboundMessage) -> str:
    """The digest of the message's sender, normalised, that the inbox row keeps to count
    the auto-replies each sender got.

    :raises MalformedPayload: for a sender that cannot be an identity of its kind:
        processing resolves the sender by the message's first identity, and such a message
        would fail for ever after the provider was answered.
    """
    sender = message.identities[0]
    try:
        normalized = hooks.normalize_identity(
            kind=sender.kind, value=sender.value, market=account.market
        )
    except InvalidIdentity as exc:
        raise MalformedPayload(f"the sender cannot be recognised: {exc}") from None
    return hashlib.sha256(f"{normalized.kind}:{normalized.value}".encode()).hexdigest()


class _Answerable:
    """Whether a message of a delivery may get an auto-reply: not one a machine sent, and
    not beyond its sender's limit, counting the replies this delivery decided so far."""

    def __init__(
        self,
        connection: Connection,
        account: ChannelAccount,
        limit: AutoReplyLimit | None,
        now: datetime,
    ) -> None:
        self.connection = connection
        self.account = account
        self.limit = limit
        self.since = now - limit.per if limit is not None else now
        self.counted: dict[str, int] = {}

    def __call__(self, message: InboundMessage, sender: str) -> bool:
        if message.automated is not None:
            return False
        if self.limit is None:
            return True
        if sender not in self.counted:
            found = {"account": self.account.name, "sender": sender, "since": self.since}
            self.counted[sender] = self.connection.execute(_REPLIES_TO_SENDER, found).scalar_one()
        return self.counted[sender] < self.limit.replies

    def replied(self, sender: str, reply: str | None) -> None:
        if reply is not None and sender in self.counted:
            self.counted[sender] += 1


def _check_lengths(message: InboundMessage) -> None:
    if len(message.external_id) > MAX_EXTERNAL_ID:
        raise MalformedPayload(
            f"the message id is {len(message.external_id)} characters long: ids are kept"
            f" up to {MAX_EXTERNAL_ID}"
        )
    for identity in message.identities:
        if len(identity.value) > MAX_IDENTITY:
            raise MalformedPayload(
                f"the {identity.kind} identity is {len(identity.value)} characters long:"
                f" identities are kept up to {MAX_IDENTITY}"
            )


def remember_signature(
    session: ZonedSession, account: ChannelAccount, signature: BodylessSignature, body: bytes
) -> None:
    """Record a signature that does not cover its body, with the body's digest, in the
    zone and transaction that store the request's messages (so the record holds across
    processes and restarts exactly when the messages do); records gone stale are pruned.

    :raises ReplayedSignature: when the signature was seen with another body; the
        caller's transaction then rolls back, storing nothing.
    """
    connection = session.zone_connection(session.residency.zone_for(account.market, DataClass.CRM))
    now = utcnow()
    connection.execute(_PRUNE_SIGNATURES, {"now": now})
    key = hashlib.sha256(signature.key.encode()).hexdigest()
    digest = hashlib.sha256(body).hexdigest()
    row = {
        "id": new_id(),
        "market": account.market,
        "channel_account": account.name,
        "signature": key,
        "body_digest": digest,
        "valid_until": signature.valid_until,
        "created": now,
        "updated": now,
    }
    if connection.execute(_INSERT_SIGNATURE[connection.dialect.name], row).first() is not None:
        return
    # None when another transaction pruned the record meanwhile: the signature went stale.
    seen = connection.execute(
        _SEEN_DIGEST, {"channel_account": account.name, "signature": key}
    ).scalar()
    if seen != digest:
        raise ReplayedSignature("this signature was already used with another body")


# Built once: the webhook's hot path then only binds values to a statement SQLAlchemy has
# already compiled and cached.
_INSERT_NEW = {
    name: dialect.insert(InboxMessage)
    .on_conflict_do_nothing(index_elements=["channel_account", "external_id"])
    .returning(InboxMessage.id)
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}
_KEPT_REPLIES = select(InboxMessage.external_id, InboxMessage.reply).where(
    InboxMessage.channel_account == bindparam("account"),
    InboxMessage.external_id.in_(bindparam("external_ids", expanding=True)),
)
_KEPT_REPLY = select(InboxMessage.external_id, InboxMessage.reply).where(
    InboxMessage.channel_account == bindparam("account"),
    InboxMessage.external_id == bindparam("external_id"),
)
_INSERT_SIGNATURE = {
    name: dialect.insert(SeenSignature)
    .on_conflict_do_nothing(index_elements=["channel_account", "signature"])
    .returning(SeenSignature.id)
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}
_REPLIES_TO_SENDER = select(func.count()).where(
    InboxMessage.channel_account == bindparam("account"),
    InboxMessage.sender_key == bindparam("sender"),
    InboxMessage.reply.is_not(None),
    InboxMessage.received_at >= bindparam("since"),
)
_PRUNE_SIGNATURES = delete(SeenSignature).where(SeenSignature.valid_until < bindparam("now"))
_SEEN_DIGEST = select(SeenSignature.body_digest).where(
    SeenSignature.channel_account == bindparam("channel_account"),
    SeenSignature.signature == bindparam("signature"),
)
_OPEN_CASES = (
    select(Case.customer_id, Case.id)
    .where(Case.customer_id.in_(bindparam("customers", expanding=True)), Case.status.in_(OPEN))
    .order_by(Case.opened_at)
)
_THREAD_CASES = (
    select(Interaction.customer_id, Interaction.external_id, Interaction.case_id)
    .join(Case, Case.id == Interaction.case_id)
    .where(
        Interaction.customer_id.in_(bindparam("customers", expanding=True)),
        Interaction.external_id.in_(bindparam("external_ids", expanding=True)),
        Case.status.in_(OPEN),
    )
)
_AWAITING_REPLIES = (
    select(CampaignMember.customer_id)
    .where(
        CampaignMember.customer_id.in_(bindparam("customers", expanding=True)),
        CampaignMember.status.in_([DeliveryStatus.SENT, DeliveryStatus.DELIVERED]),
    )
    .distinct()
)
# A member's message within the reply window after a campaign's is their reply.
_REPLIED = (
    update(CampaignMember)
    .where(
        CampaignMember.customer_id == bindparam("member"),
        CampaignMember.status.in_([DeliveryStatus.SENT, DeliveryStatus.DELIVERED]),
        CampaignMember.sent_at >= bindparam("since"),
        CampaignMember.sent_at <= bindparam("at"),
    )
    .values(status=DeliveryStatus.REPLIED, replied_at=bindparam("at"), updated=bindparam("at"))
    .execution_options(synchronize_session=False)
)
_CLAIM = (
    update(InboxMessage)
    .where(
        InboxMessage.id == bindparam("inbox_id"),
        InboxMessage.status == InboxStatus.RECEIVED,
    )
    .values(
        status=InboxStatus.PROCESSED,
        customer_id=bindparam("customer_id"),
        interaction_id=bindparam("interaction_id"),
        # The market the row was stored with, its account's: naming it lets the zone's
        # write guard check the row's placement from the values, where it would otherwise
        # query the zone for each row marked.
        market=bindparam("market"),
        updated=bindparam("now"),
    )
    .execution_options(synchronize_session=False)
)
_WAITING = select(
    InboxMessage.id,
    InboxMessage.status,
    InboxMessage.channel_account,
    InboxMessage.payload,
    InboxMessage.reply,
    InboxMessage.reply_status,
    InboxMessage.reply_external_id,
    InboxMessage.replied_at,
).where(InboxMessage.id.in_(bindparam("ids", expanding=True)))
# What went out: the timeline shows a reply only once the provider had it.
_WENT_OUT = (ReplyStatus.IN_ANSWER, ReplyStatus.SENT)


@dataclass(frozen=True)
class SentReply:
    """An auto-reply that went out, as its inbox row keeps it.

    :param external_id: the provider's id for it; None for one in the webhook's answer.
    """

    text: str
    external_id: str | None
    at: datetime


# A stored message as processing takes it up: its account, the message, and the
# auto-reply that went out to it.
Waiting = tuple[ChannelAccount, InboundMessage, SentReply | None]


@dataclass(frozen=True)
class Processed:
    """A message on its customer's timeline, with the auto-reply that went out to it.

    :param market: the customer's market, which places the rows written for them.
    """

    inbox: InboxRef
    message: InboundMessage
    account: ChannelAccount
    customer_id: uuid.UUID
    market: str
    interaction_id: uuid.UUID
    reply: SentReply | None

    @classmethod
    def of(cls, inbox: InboxRef, waiting: Waiting, customer: Resolution) -> Processed:
        """A waiting message once its sender is resolved to ``customer``."""
        account, message, reply = waiting
        return cls(
            inbox,
            message,
            account,
            customer.customer_id,
            customer.market,
            timeline_id(inbox.id),
            reply,
        )


def process(
    stores: ZoneStores,
    hooks: Hooks,
    registry: ChannelRegistry,
    inbox: InboxRef,
    *,
    client: httpx.Client | None = None,
) -> Processed | None:
    """Resolve one stored message's sender, append it to their timeline, mark it processed.

    Returns None when the row is not (or no longer) waiting: another worker did it. A
    failure leaves nothing half-done: the row is marked failed with the reason, in its own
    transaction, and ``regiocrm inbox retry`` takes it up again. When the database is what
    failed (unreachable, restarted, busy: an ``OperationalError``), the row stays waiting
    instead, and a worker claims it again once its lease lapses: the message is processed
    when the database is back, with nobody retrying it by hand.

    Two messages of a sender new to the deployment, processed at once by two workers,
    both create the customer: the one that commits second fails on the unique identity and
    is processed again at once, finding the customer the other made.

    :param client: for the channel's ``enrich`` (more identities from the provider's API);
        without one, the message is resolved with the identities it came with.
    """
    try:
        try:
            return _process_once(stores, hooks, registry, inbox, client)
        except IntegrityError:
            log.info("inbox message %s raced another worker's: processing it again", inbox.id)
            return _process_once(stores, hooks, registry, inbox, client)
    except _AlreadyProcessed:
        return None
    except OperationalError:
        # The database failed, not the message: marking it failed would keep it from the
        # workers for good, where its lapsing lease gives it back to them.
        raise
    except Exception as exc:
        _mark_failed(stores, inbox, exc)
        raise


def _process_once(
    stores: ZoneStores,
    hooks: Hooks,
    registry: ChannelRegistry,
    inbox: InboxRef,
    client: httpx.Client | None,
) -> Processed | None:
    with stores.session() as session:
        found = _waiting_messages(session, registry, inbox.zone, [inbox]).get(inbox)
        if found is None:
            return None
        if isinstance(found, LookupError):
            raise found
        account, message, reply = found
        if client is not None:
            message = _enrich(registry, account, message, client)
        customer = Customers(session, hooks).resolve(message.identities, account.market)
        result = Processed.of(inbox, (account, message, reply), customer)
        timeline_zone = stores.residency.zone_for(customer.market, DataClass.CRM)
        wrote_in = stores.residency.zone_for(customer.market, DataClass.IDENTITY)
        if not customer.merged and timeline_zone == wrote_in == inbox.zone:
            # Everything in the inbox's zone: one transaction does it all at once.
            _append(session, timeline_zone, [result])
            _claim(session, hooks, [result])
            return result
    # Across zones, in order: the customer is committed, then the entry, then the claim.
    if timeline_zone != inbox.zone:
        with stores.session() as session:
            _append(session, timeline_zone, [result])
    with stores.session() as session:
        if timeline_zone == inbox.zone:
            _append(session, timeline_zone, [result])
        _claim(session, hooks, [result])
    return result


def process_batch(
    stores: ZoneStores,
    hooks: Hooks,
    registry: ChannelRegistry,
    inboxes: Sequence[InboxRef],
    *,
    client: httpx.Client | None = None,
) -> list[Processed | None]:
    """:func:`process` for each of ``inboxes``, in a transaction a zone where it can: the
    rows read, the senders resolved, the timeline entries written and the rows marked
    processed, each in one query (or a few) for the whole batch.

    A message whose customer lives in another zone, or was merged by it, and every message
    of a batch whose transaction fails, goes through :func:`process` alone afterwards: it
    then fails by itself, with its reason on its row, and the others are processed.

    Returns, in order, what :func:`process` would; None also for a message that failed
    (logged, and kept with its reason) and for one left waiting because the database
    failed (logged; claimed again once its lease lapses).
    """
    results: dict[InboxRef, Processed | None] = {}
    for zone in dict.fromkeys(inbox.zone for inbox in inboxes):
        group = [inbox for inbox in inboxes if inbox.zone == zone]
        try:
            done, alone = _process_together(stores, hooks, registry, zone, group, client)
        except OperationalError as exc:
            # The database failed, not the messages: they wait for their leases to lapse.
            log.error(
                "%d inbox messages in %s wait, the database failed: %s", len(group), zone, exc.orig
            )
            continue
        except Exception:
            log.info("batch of %d inbox messages in %s goes one by one", len(group), zone)
            done, alone = {}, group
        results.update(done)
        for inbox in alone:
            try:
                results[inbox] = process(stores, hooks, registry, inbox, client=client)
            except OperationalError as exc:
                log.error("inbox message %s waits, the database failed: %s", inbox.id, exc.orig)
            except Exception:
                log.exception("inbox message %s failed", inbox.id)
    return [results.get(inbox) for inbox in inboxes]


def _process_together(
    stores: ZoneStores,
    hooks: Hooks,
    registry: ChannelRegistry,
    zone: str,
    inboxes: Sequence[InboxRef],
    client: httpx.Client | None,
) -> tuple[dict[InboxRef, Processed | None], list[InboxRef]]:
    """Process in one transaction those of ``inboxes`` (all in ``zone``) whose customer
    lives in that zone too; what was done, and what is left to process alone."""
    done: dict[InboxRef, Processed | None] = {}
    alone: list[InboxRef] = []
    with stores.session() as session:
        found = _waiting_messages(session, registry, zone, inboxes)
        ready: list[tuple[InboxRef, Waiting]] = []
        for inbox in inboxes:
            waiting_one = found.get(inbox)
            if waiting_one is None:
                done[inbox] = None
            elif isinstance(waiting_one, LookupError):
                alone.append(inbox)
            else:
                account, message, reply = waiting_one
                if client is not None:
                    message = _enrich(registry, account, message, client)
                ready.append((inbox, (account, message, reply)))
        customers = Customers(session, hooks).resolve_many(
            [(message.identities, account.market) for _, (account, message, _) in ready]
        )
        together = []
        for (inbox, (account, message, reply)), customer in zip(ready, customers, strict=True):
            placed = {
                stores.residency.zone_for(customer.market, data_class)
                for data_class in (DataClass.CRM, DataClass.IDENTITY)
            }
            if customer.merged or placed != {zone}:
                # Committed with the others, the customer is found again when it goes alone.
                alone.append(inbox)
                continue
            together.append(Processed.of(inbox, (account, message, reply), customer))
        if together:
            _append(session, zone, together)
            _claim(session, hooks, together)
    done.update((result.inbox, result) for result in together)
    return done, alone


def _claim(session: ZonedSession, hooks: Hooks, results: Sequence[Processed]) -> None:
    """Mark the inbox rows (all of one zone) processed, once: ``message_received`` fires
    for each when that commits.

    :raises _AlreadyProcessed: when another worker processed one of them first.
    """
    claimed = session.zone_connection(results[0].inbox.zone).execute(
        _CLAIM,
        [
            {
                "inbox_id": result.inbox.id,
                "customer_id": result.customer_id,
                "interaction_id": result.interaction_id,
                "market": result.account.market,
                "now": utcnow(),
            }
            for result in results
        ],
    )
    if claimed.rowcount != len(results):
        raise _AlreadyProcessed
    for result in results:
        after_commit(
            session,
            partial(
                hooks.message_received,
                message=result.message,
                account=result.account,
                customer_id=result.customer_id,
                interaction_id=result.interaction_id,
            ),
        )


def _waiting_messages(
    session: ZonedSession, registry: ChannelRegistry, zone: str, inboxes: Sequence[InboxRef]
) -> dict[InboxRef, Waiting | LookupError]:
    """Those of ``inboxes`` (all in ``zone``) still waiting, read in one query: each with
    its account, message and reply sent, or the error of an account no longer
    configured."""
    rows = session.zone_connection(zone).execute(_WAITING, {"ids": [i.id for i in inboxes]})
    found: dict[InboxRef, Waiting | LookupError] = {}
    for row in rows:
        if row.status is not InboxStatus.RECEIVED:
            continue
        inbox = InboxRef(zone, row.id)
        account = registry.accounts.get(row.channel_account)
        if account is None:
            found[inbox] = LookupError(f"channel account {row.channel_account!r} is not configured")
            continue
        reply = None
        if row.reply is not None and row.reply_status in _WENT_OUT:
            reply = SentReply(row.reply, row.reply_external_id, row.replied_at)
        found[inbox] = (account, message_from_json(row.payload), reply)
    return found


def _append(session: ZonedSession, zone: str, results: Sequence[Processed]) -> None:
    """Put inbound messages and the auto-replies that went out to them on the timeline,
    unless an earlier attempt did, each attached to its customer's newest open case there,
    and count each as the reply to the campaign messages its sender had within the reply
    window (kept beside their timeline). A few queries for all of ``results``, however
    many they are."""
    connection = session.zone_connection(zone)
    customers = list({result.customer_id for result in results})
    # Oldest first: the newest open case of each customer is the one left in the dict.
    open_cases = dict(connection.execute(_OPEN_CASES, {"customers": customers}).all())
    answered = _answered_cases(connection, customers, results)
    awaiting = set(connection.execute(_AWAITING_REPLIES, {"customers": customers}).scalars())
    window = timedelta(days=session.stores.settings.campaigns.reply_window_days)
    replies = [
        {
            "member": result.customer_id,
            "at": result.message.occurred_at,
            "since": result.message.occurred_at - window,
        }
        for result in results
        if result.customer_id in awaiting
    ]
    if replies:
        connection.execute(_REPLIED, replies)
    entries = []
    for result in results:
        message, account = result.message, result.account
        case_id = _answered_case(answered, result) or open_cases.get(result.customer_id)
        entries.append(
            timeline.MessageEntry(
                id=result.interaction_id,
                market=result.market,
                customer_id=result.customer_id,
                channel=account.channel,
                direction=Direction.INBOUND,
                touchpoint=account.name,
                text=message.text,
                summary=_summary(message),
                external_id=message.external_id,
                occurred_at=message.occurred_at,
                case_id=case_id,
            )
        )
        if result.reply is not None:
            entries.append(
                timeline.MessageEntry(
                    id=reply_timeline_id(result.inbox.id),
                    market=result.market,
                    customer_id=result.customer_id,
                    channel=account.channel,
                    direction=Direction.OUTBOUND,
                    touchpoint=account.name,
                    text=result.reply.text,
                    summary=AUTO_REPLY,
                    external_id=result.reply.external_id,
                    occurred_at=result.reply.at,
                    case_id=case_id,
                )
            )
    timeline.append_once(connection, *entries)


def _answered_cases(
    connection: Connection, customers: Sequence[uuid.UUID], results: Sequence[Processed]
) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
    """The open cases of the messages that ``results`` answer (their ``thread``), by
    customer and message id: a reply is filed with what it answers. Only the customer's
    own messages count: an id in a thread is no proof of who wrote, and anyone who saw a
    mail (a copy, a forward) knows its ids."""
    thread = list({external_id for result in results for external_id in result.message.thread})
    if not thread:
        return {}
    found = connection.execute(
        _THREAD_CASES, {"customers": customers, "external_ids": thread}
    ).all()
    return {(row.customer_id, row.external_id): row.case_id for row in found}


def _answered_case(
    answered: dict[tuple[uuid.UUID, str], uuid.UUID], result: Processed
) -> uuid.UUID | None:
    """The open case of the latest message in the thread that one of ``results`` answers."""
    for external_id in reversed(result.message.thread):
        case_id = answered.get((result.customer_id, external_id))
        if case_id is not None:
            return case_id
    return None


class _AlreadyProcessed(Exception):
    """Another worker processed the row first: roll this attempt back."""


def _enrich(
    registry: ChannelRegistry,
    account: ChannelAccount,
    message: InboundMessage,
    client: httpx.Client,
) -> InboundMessage:
    try:
        return registry.channels[account.channel].enrich(account, message, client=client)
    except SendError as exc:
        log.warning("%s %s not enriched: %s", account.name, message.external_id, exc)
        return message


def _summary(message: InboundMessage) -> str | None:
    if message.summary is not None:
        return message.summary[:MAX_SUMMARY]
    if message.kind == "event":
        return f"event: {message.event}"
    if message.text is None:
        return f"{message.kind} message"
    return None


def _mark_failed(stores: ZoneStores, inbox: InboxRef, exc: Exception) -> None:
    """Keep the reason with the row; a row its zone may no longer hold stays waiting, for
    `regiocrm residency migrate` to move and a later run to process."""
    try:
        with stores.session() as session:
            session.zone_connection(inbox.zone).execute(
                update(InboxMessage)
                .where(InboxMessage.id == inbox.id, InboxMessage.status == InboxStatus.RECEIVED)
                .values(status=InboxStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
            )
    except ResidencyError as refused:
        log.error("inbox message %s stays waiting: %s", inbox.id, refused)


_RECEIVED = select(InboxMessage.id, InboxMessage.received_at).where(
    InboxMessage.status == InboxStatus.RECEIVED
)


def waiting(stores: ZoneStores) -> list[InboxRef]:
    """The messages stored but not processed yet, in every zone, oldest first."""
    found = []
    with stores.session() as session:
        for zone in stores.names:
            for inbox_id, received_at in session.zone_connection(zone).execute(_RECEIVED):
                found.append((received_at, inbox_id, zone))
    return [InboxRef(zone, inbox_id) for _, inbox_id, zone in sorted(found)]


def requeue_failed(stores: ZoneStores) -> int:
    """Put every failed message back to ``received``; returns how many."""
    with stores.session() as session:
        result = session.execute(
            update(InboxMessage)
            .where(InboxMessage.status == InboxStatus.FAILED)
            .values(status=InboxStatus.RECEIVED, error=None, claimed_by=None, lease_until=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


# How long a claim holds without renewal: a process that died gives its messages up to
# another within this, and a live one renews well before it lapses.
LEASE = timedelta(seconds=5)
BATCH = 50
# How often an idle worker looks for other processes' messages and lapsed leases.
POLL_SECONDS = 0.5
# How long a worker lets messages gather before it claims what is less than a full batch:
# a burst is then processed fifty at a time, not one by one as each webhook stores its
# message, which would cost each message a batch's queries and take the write lock from the
# webhooks (on SQLite, the only one) as often as they do.
GATHER_SECONDS = 0.05


def process_id() -> str:
    """Who claims: host, pid and a random part, so a restarted process with a reused pid
    does not take over its predecessor's leases as its own."""
    return f"{socket.gethostname()[:70]}:{os.getpid()}:{secrets.token_hex(6)}"


_CLAIMABLE = (InboxMessage.status == InboxStatus.RECEIVED) & or_(
    InboxMessage.lease_until.is_(None), InboxMessage.lease_until < bindparam("now")
)
_ANY_CLAIMABLE = select(InboxMessage.id).where(_CLAIMABLE).limit(1)


def _claim_statement(dialect: str, limit: int) -> Update:
    chosen = (
        select(InboxMessage.id).where(_CLAIMABLE).order_by(InboxMessage.received_at).limit(limit)
    )
    if dialect == "postgresql":
        # Rows another transaction is claiming are passed over, not waited for: claimers
        # running together each get other messages.
        chosen = chosen.with_for_update(skip_locked=True)
    return (
        update(InboxMessage)
        .where(InboxMessage.id.in_(chosen))
        .values(claimed_by=bindparam("owner"), lease_until=bindparam("until"))
        .returning(InboxMessage.id, InboxMessage.received_at)
        .execution_options(synchronize_session=False)
    )


def claim(
    stores: ZoneStores,
    owner: str,
    *,
    limit: int = BATCH,
    lease: timedelta = LEASE,
    now: datetime | None = None,
) -> list[InboxRef]:
    """Lease up to ``limit`` waiting messages (received, and unclaimed or their lease
    lapsed) to ``owner`` until ``now + lease``, oldest first, one committed transaction a
    zone.

    On PostgreSQL the rows are chosen ``FOR UPDATE SKIP LOCKED`` and leased in the same
    statement. On SQLite the choosing and leasing is one ``UPDATE``, which takes the
    database's single write lock before it reads: claimers take turns, and the second sees
    the first's leases.
    """
    now = now or utcnow()
    found: list[tuple[datetime, uuid.UUID, str]] = []
    for zone in stores.names:
        if len(found) >= limit:
            break
        with stores.session() as session:
            connection = session.zone_connection(zone)
            dialect = connection.dialect.name
            # A read first, outside any write: an idle SQLite zone is not locked by polling.
            if (
                dialect == "sqlite"
                and connection.execute(_ANY_CLAIMABLE, {"now": now}).first() is None
            ):
                continue
            rows = connection.execute(
                _claim_statement(dialect, limit - len(found)),
                {"now": now, "owner": owner, "until": now + lease},
            ).all()
        found.extend((received_at, inbox_id, zone) for inbox_id, received_at in rows)
    return [InboxRef(zone, inbox_id) for _, inbox_id, zone in sorted(found)]


_RENEW = (
    update(InboxMessage)
    .where(
        InboxMessage.claimed_by == bindparam("owner"),
        InboxMessage.status == InboxStatus.RECEIVED,
    )
    .values(lease_until=bindparam("until"))
    .execution_options(synchronize_session=False)
)
_RELEASE = (
    update(InboxMessage)
    .where(
        InboxMessage.claimed_by == bindparam("owner"),
        InboxMessage.status == InboxStatus.RECEIVED,
    )
    .values(claimed_by=None, lease_until=None)
    .execution_options(synchronize_session=False)
)


def renew(
    stores: ZoneStores,
    owner: str,
    zones: Sequence[str],
    *,
    lease: timedelta = LEASE,
    now: datetime | None = None,
) -> None:
    """Extend ``owner``'s leases on the messages it still holds in ``zones`` to
    ``now + lease``."""
    until = (now or utcnow()) + lease
    for zone in zones:
        with stores.session() as session:
            session.zone_connection(zone).execute(_RENEW, {"owner": owner, "until": until})


def release(stores: ZoneStores, owner: str, zones: Sequence[str] | None = None) -> None:
    """Give up ``owner``'s leases on the messages it did not process, so others take them
    at once."""
    for zone in stores.names if zones is None else zones:
        with stores.session() as session:
            session.zone_connection(zone).execute(_RELEASE, {"owner": owner})


_STATUS = select(InboxMessage.id).where(
    InboxMessage.id.in_(bindparam("ids", expanding=True)),
    InboxMessage.status == InboxStatus.RECEIVED,
)


def still_waiting(stores: ZoneStores, inboxes: Sequence[InboxRef]) -> set[InboxRef]:
    """Those of ``inboxes`` nobody has processed (or failed) yet."""
    return found_among(stores, inboxes, _STATUS)


def found_among(
    stores: ZoneStores, inboxes: Sequence[InboxRef], query: Select[Any]
) -> set[InboxRef]:
    """Those of ``inboxes`` whose ids ``query`` (a select of inbox ids, given them as the
    expanding parameter ``ids``) answers, with one query a zone."""
    found = set()
    with stores.session() as session:
        for zone in {inbox.zone for inbox in inboxes}:
            ids = [inbox.id for inbox in inboxes if inbox.zone == zone]
            for (inbox_id,) in session.zone_connection(zone).execute(query, {"ids": ids}):
                found.add(InboxRef(zone, inbox_id))
    return found


class InboxWorker:
    """A background thread that claims waiting messages in batches, as leases, and takes
    each batch through a pipeline, in arrival order.

    Any process's worker may process any waiting message: it claims what this process's
    webhooks :meth:`submit` at once, and polls for what other processes stored and for
    leases whose claimer died. A second thread renews the leases of the batch in hand.

    :param pipeline: what is done with each batch of messages: the HTTP app passes
        :meth:`regiocrm.messaging.pipeline.InboxPipeline.batch`, which does for each what
        ``regiocrm inbox retry`` does.
    :param enabled: false in a serving process that leaves the inbox to ``regiocrm
        worker``: then :meth:`start` and :meth:`submit` do nothing.
    """

    def __init__(
        self,
        stores: ZoneStores,
        pipeline: Callable[[Sequence[InboxRef]], object],
        *,
        batch: int = BATCH,
        lease: timedelta = LEASE,
        poll_seconds: float = POLL_SECONDS,
        gather_seconds: float = GATHER_SECONDS,
        enabled: bool = True,
    ) -> None:
        self.stores = stores
        self.enabled = enabled
        self.pipeline = pipeline
        self.owner = process_id()
        self.batch = batch
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.gather_seconds = gather_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        # What this process submitted (or found waiting at start) and has not seen settled.
        self._pending: set[InboxRef] = set()
        self._settled = threading.Condition()
        self._held: frozenset[str] = frozenset()
        self._polling = False
        self._claims_failing = False
        self._threads: list[threading.Thread] = []

    def start(self, *, resume: bool = True) -> None:
        """Start claiming, first what an earlier run left unprocessed.

        :param resume: false while the zones are not migrated yet: they have no inbox, so
            nothing can be waiting, and looking would create their database files; the
            worker then polls only once something is submitted.
        """
        if not self.enabled:
            return
        if resume:
            with self._settled:
                self._pending.update(waiting(self.stores))
        self._polling = resume or self._polling
        self._stopping.clear()
        self._wake.set()
        self._threads = [
            threading.Thread(target=self._run, name="regiocrm-inbox", daemon=True),
            threading.Thread(target=self._renew, name="regiocrm-inbox-leases", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, inboxes: Sequence[InboxRef]) -> None:
        """Claim these (just stored by this process) now rather than at the next poll."""
        if not self.enabled:
            return
        with self._settled:
            self._pending.update(inboxes)
        self._polling = True
        self._wake.set()

    def drain(self) -> None:
        """Wait until nothing submitted so far (or waiting when the worker started) is
        waiting: processed or failed, here or by another process."""
        with self._settled:
            self._settled.wait_for(lambda: not self._pending)

    def stop(self) -> None:
        """Finish the batch in hand, stop, and release the leases of the rest."""
        if not self._threads:
            return
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join()
        self._threads = []
        try:
            release(self.stores, self.owner)
        except Exception:
            log.exception("inbox leases of %s not released: they lapse by themselves", self.owner)
        self._held = frozenset()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            if not self._polling:
                # Zones not migrated yet: opening one now would create its file under the
                # migration's feet. Something submitted means the inbox exists.
                self._wake.wait()
                continue
            try:
                batch = claim(self.stores, self.owner, limit=self.batch, lease=self.lease)
            except OperationalError as exc:
                self._claims_fail(exc)
                batch = []
            except Exception:
                log.exception("claiming inbox messages failed; trying again")
                batch = []
            else:
                self._claims_succeed()
            self._held = frozenset(inbox.zone for inbox in batch)
            if batch:
                self._process(batch)
            else:
                self._held = frozenset()
                self._settle()
                self._wake.wait(self.poll_seconds if self._polling else None)
            if len(batch) < self.batch:
                self._stopping.wait(self.gather_seconds)

    def _claims_fail(self, exc: OperationalError) -> None:
        """Say once why the worker cannot claim, not at every poll while the database is
        unreachable."""
        if not self._claims_failing:
            log.error(
                "inbox worker %s cannot claim until the database answers (trying every %s s): %s",
                self.owner,
                self.poll_seconds,
                exc.orig,
            )
        self._claims_failing = True

    def _claims_succeed(self) -> None:
        if self._claims_failing:
            log.warning("inbox worker %s claims again: the database answers", self.owner)
        self._claims_failing = False

    def _process(self, batch: list[InboxRef]) -> None:
        try:
            self.pipeline(batch)
        except OperationalError as exc:
            log.error("%d inbox messages wait, the database failed: %s", len(batch), exc.orig)
        except Exception:
            log.exception("a batch of %d inbox messages failed", len(batch))
        with self._settled:
            self._pending.difference_update(batch)
            self._settled.notify_all()

    def _settle(self) -> None:
        """Forget submitted messages another process processed or failed."""
        with self._settled:
            pending = list(self._pending)
        if not pending:
            return
        try:
            left = still_waiting(self.stores, pending)
        except Exception:
            log.exception("checking submitted inbox messages failed")
            return
        with self._settled:
            self._pending -= set(pending) - left
            self._settled.notify_all()

    def _renew(self) -> None:
        while not self._stopping.wait(self.lease.total_seconds() / 3):
            held = self._held
            if not held:
                continue
            try:
                renew(self.stores, self.owner, sorted(held), lease=self.lease)
            except Exception:
                log.exception("renewing inbox leases failed")
