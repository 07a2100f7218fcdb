"""Auto-replies: what the ``auto_reply`` hook answers, in the market's language, sent and
put on the timeline."""

from __future__ import annotations

import logging

import httpx

from regiocrm.channels import ChannelAccount, ChannelRegistry
from regiocrm.hooks import Hooks
from regiocrm.i18n import negotiate
from regiocrm.inbox import Processed
from regiocrm.messaging import DeliveryError, Route, deliver
from regiocrm.models import Direction, Interaction
from regiocrm.models.base import utcnow
from regiocrm.stores import ZoneStores

log = logging.getLogger(__name__)


def reply_locale(hooks: Hooks, account: ChannelAccount) -> str:
    """Passive replies are written before the sender is known: in the language of the
    account's market."""
    return str(negotiate(hooks.packs().market(account.market).locale))


def record_auto_reply(
    processed: Processed,
    *,
    hooks: Hooks,
    registry: ChannelRegistry,
    stores: ZoneStores,
    client: httpx.Client,
) -> None:
    """After a message is on the timeline: send the auto-reply where the channel did not
    take it in the HTTP answer, and put the reply on the timeline either way."""
    account, message = processed.account, processed.message
    channel = registry.channels[account.channel]
    text = hooks.auto_reply(message=message, account=account, locale=reply_locale(hooks, account))
    if text is None:
        return
    external_id = None
    if not channel.replies_in_response:
        route = Route(channel, account, message.identities[0])
        try:
            external_id = deliver(route, text, client=client, reply_token=message.reply_token)
        except DeliveryError:
            log.exception("auto-reply to %s was not sent", message.external_id)
            return
    with stores.session() as session:
        session.add(
            Interaction(
                market=processed.market,
                customer_id=processed.customer_id,
                channel=account.channel,
                direction=Direction.OUTBOUND,
                touchpoint=account.name,
                text=text,
                summary="auto-reply",
                external_id=external_id,
                occurred_at=utcnow(),
            )
        )
