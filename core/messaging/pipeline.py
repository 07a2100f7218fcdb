"""Auto-replies sent, and the inbox pipeline that every front end runs.

The ``auto_reply`` hook decides a message's reply once, when :func:`regiocrm.messaging.inbox.store`
keeps the message (see there). :class:`InboxPipeline` then takes each stored message
through the rest, the same way for the HTTP app's inbox worker and for
``regiocrm inbox retry``: the reply is sent through the channel's API where the webhook's
answer did not carry it, then the message is processed, and the reply that went out is put
on the timeline with it.

Sending is at most once. The row is marked ``sending`` (and committed) before the provider
is called, and ``sent`` with the provider's id after: a worker that dies in between leaves
it ``sending``, and nobody sends it again, since the provider may have it already.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy import bindparam, select, update

from regiocrm.interfaces.channels import ChannelRegistry
from regiocrm.messaging.inbox import (
    InboxRef,
    Processed,
    found_among,
    message_from_json,
    process,
    process_batch,
)
from regiocrm.messaging.outbound import Route, deliver
from regiocrm.models import InboxMessage, ReplyStatus
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.stores import ZoneStores

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboxPipeline:
    """What happens to each stored message, wired once for every front end that runs it.

    :param client: for the providers' APIs: sending replies, and the channel's ``enrich``.
    """

    stores: ZoneStores
    hooks: Hooks
    registry: ChannelRegistry
    client: httpx.Client

    def __call__(self, inbox: InboxRef) -> Processed | None:
        """Send the message's auto-reply if it is still to be sent, then process it.

        Returns None when the message was not waiting (another worker did it).
        """
        send_auto_reply(self.stores, self.registry, inbox, client=self.client)
        return process(self.stores, self.hooks, self.registry, inbox, client=self.client)

    def batch(self, inboxes: Sequence[InboxRef]) -> list[Processed | None]:
        """What calling this for each of ``inboxes`` does, with the messages processed
        together (:func:`regiocrm.messaging.inbox.process_batch`) once the auto-replies
        still to be sent, if any, have gone out; a message that failed is None."""
        for inbox in _replies_to_send(self.stores, inboxes):
            send_auto_reply(self.stores, self.registry, inbox, client=self.client)
        return process_batch(self.stores, self.hooks, self.registry, inboxes, client=self.client)


_REPLIES_TO_SEND = select(InboxMessage.id).where(
    InboxMessage.id.in_(bindparam("ids", expanding=True)),
    InboxMessage.reply_status == ReplyStatus.TO_SEND,
)


def _replies_to_send(stores: ZoneStores, inboxes: Sequence[InboxRef]) -> list[InboxRef]:
    """Those of ``inboxes`` with an auto-reply still to send, in order: most have none."""
    found = found_among(stores, inboxes, _REPLIES_TO_SEND)
    return [inbox for inbox in inboxes if inbox in found]


_TO_SEND = select(InboxMessage.channel_account, InboxMessage.payload, InboxMessage.reply).where(
    InboxMessage.id == bindparam("inbox_id"), InboxMessage.reply_status == ReplyStatus.TO_SEND
)
_BEGIN_SENDING = (
    update(InboxMessage)
    .where(
        InboxMessage.id == bindparam("inbox_id"),
        InboxMessage.reply_status == ReplyStatus.TO_SEND,
    )
    .values(reply_status=ReplyStatus.SENDING, updated=bindparam("now"))
    .execution_options(synchronize_session=False)
)
_END_SENDING = (
    update(InboxMessage)
    .where(
        InboxMessage.id == bindparam("inbox_id"),
        InboxMessage.reply_status == ReplyStatus.SENDING,
    )
    .values(
        reply_status=bindparam("outcome"),
        reply_external_id=bindparam("sent_as"),
        replied_at=bindparam("now"),
        updated=bindparam("now"),
    )
    .execution_options(synchronize_session=False)
)


def send_auto_reply(
    stores: ZoneStores, registry: ChannelRegistry, inbox: InboxRef, *, client: httpx.Client
) -> None:
    """Send a stored message's auto-reply through its channel's API, at most once, and note
    on its inbox row what was sent; nothing to do for a reply already on its way or none."""
    with stores.session() as session:
        connection = session.zone_connection(inbox.zone)
        row = connection.execute(_TO_SEND, {"inbox_id": inbox.id}).first()
        if row is None or row.channel_account not in registry.accounts:
            # An account no longer configured: processing fails and says so.
            return
        claimed = connection.execute(_BEGIN_SENDING, {"inbox_id": inbox.id, "now": utcnow()})
        if claimed.rowcount != 1:
            return
    account = registry.accounts[row.channel_account]
    message = message_from_json(row.payload)
    route = Route(registry.channels[account.channel], account, message.identities[0], message)
    outcome, external_id = ReplyStatus.FAILED, None
    try:
        external_id = deliver(
            route, row.reply, client=client, reply_token=message.reply_token, automatic=True
        )
        outcome = ReplyStatus.SENT
    except Exception:
        # A refusal, or a plugin's bug: the message itself still goes on the timeline.
        log.exception("auto-reply to %s was not sent", message.external_id)
    with stores.session() as session:
        session.zone_connection(inbox.zone).execute(
            _END_SENDING,
            {"inbox_id": inbox.id, "outcome": outcome, "sent_as": external_id, "now": utcnow()},
        )
