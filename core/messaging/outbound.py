"""Outbound messages: choosing the route to a customer, checking consent, retrying sends.

A message goes out on the channel the caller names, or else on the one the customer last
wrote on, through the account they wrote to and to the identity they wrote from. It needs
the customer's consent for its purpose on that channel (or on every channel, ``*``), and a
provider's passing failure (a timeout, a 429, a 5xx) is retried with exponential backoff
before the caller is told, in one clear sentence, that it could not be sent.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from regiocrm.crm.customers import consent_in_force
from regiocrm.crm.timeline import Timeline
from regiocrm.interfaces.channels import (
    Channel,
    ChannelAccount,
    ChannelRegistry,
    IdentityRef,
    InboundMessage,
    SendError,
)
from regiocrm.messaging.inbox import message_from_json
from regiocrm.models import Customer, Identity, InboxMessage, InboxStatus, Interaction

SEND_ATTEMPTS = 3
BACKOFF_SECONDS = 0.5


class DeliveryError(Exception):
    """A message that was not sent; the text says why."""


class NoConsent(DeliveryError):
    """No grant in force for the message's purpose on the channel it would go out on."""

    def __init__(self, message: str, *, purpose: str, channel: str) -> None:
        super().__init__(message)
        self.purpose = purpose
        self.channel = channel


class NoRoute(DeliveryError):
    pass


class NotDelivered(DeliveryError):
    """The provider refused the message or kept failing; the attempt is on the customer's
    timeline as failed (``entry_id``), with the provider's reason, to be committed although
    nothing was sent."""

    def __init__(self, message: str, *, entry_id: uuid.UUID) -> None:
        super().__init__(message)
        self.entry_id = entry_id


@dataclass(frozen=True)
class Route:
    """Where a message goes: through ``account`` to ``recipient``.

    :param answering: the customer's last message on this route, which a message sent on
        it answers (an email then threads under it); None where they never wrote there.
    """

    channel: Channel
    account: ChannelAccount
    recipient: IdentityRef
    answering: InboundMessage | None = None


def deliver(
    route: Route,
    text: str,
    *,
    client: httpx.Client,
    reply_token: str | None = None,
    automatic: bool = False,
    attempts: int = SEND_ATTEMPTS,
    backoff: float = BACKOFF_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Send through the route's channel, retrying what may pass; the provider's message id.
    A route answering a message sends the answer to it (:meth:`Channel.send_answer`).

    :param automatic: an auto-reply, not a person's answer.
    :raises DeliveryError: when the provider refuses, or still fails after ``attempts``.
    """
    for attempt in range(1, attempts + 1):
        try:
            if route.answering is not None:
                return route.channel.send_answer(
                    route.account,
                    route.recipient,
                    text,
                    client=client,
                    answering=route.answering,
                    reply_token=reply_token,
                    automatic=automatic,
                )
            return route.channel.send(
                route.account, route.recipient, text, client=client, reply_token=reply_token
            )
        except SendError as exc:
            if not exc.retryable or attempt == attempts:
                tried = f" after {attempt} attempts" if attempt > 1 else ""
                raise DeliveryError(
                    f"{route.channel.name} account {route.account.name!r} could not send to"
                    f" {route.recipient}{tried}: {exc}"
                ) from exc
            sleep(backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable: the last attempt returns or raises")


class Messaging:
    """Outbound messages for customers, inside one session; the caller commits."""

    def __init__(self, session: Session, registry: ChannelRegistry, client: httpx.Client) -> None:
        self.session = session
        self.registry = registry
        self.client = client

    def route(
        self, customer: Customer, merge_set: Sequence[uuid.UUID], channel: str | None
    ) -> Route:
        """The way to reach a customer: where they last wrote (on ``channel`` if given), or,
        for a channel they never wrote on, an identity of theirs it can reach.

        :raises NoRoute: when no configured account can reach them.
        """
        query = (
            select(InboxMessage)
            .where(
                InboxMessage.customer_id.in_(merge_set),
                InboxMessage.status == InboxStatus.PROCESSED,
            )
            .order_by(InboxMessage.received_at.desc(), InboxMessage.id.desc())
            .limit(1)
        )
        if channel is not None:
            query = query.where(InboxMessage.channel == channel)
        last = self.session.scalar(query)
        if last is not None:
            found = self.registry.account(last.channel, last.channel_account)
            if found is not None:
                message = message_from_json(last.payload)
                return Route(found[0], found[1], message.identities[0], message)
        if channel is None:
            raise NoRoute(f"customer {customer.id} has never written on a channel: name one")
        return self._route_by_identity(customer, merge_set, channel)

    def _route_by_identity(
        self, customer: Customer, merge_set: Sequence[uuid.UUID], channel_name: str
    ) -> Route:
        channel = self.registry.channels.get(channel_name)
        if channel is None:
            raise NoRoute(f"unknown channel {channel_name!r}")
        accounts = [a for a in self.registry.accounts.values() if a.channel == channel_name]
        accounts.sort(key=lambda account: account.market != customer.market)
        identity = self.session.scalar(
            select(Identity)
            .where(Identity.customer_id.in_(merge_set), Identity.kind.in_(channel.identity_kinds))
            .order_by(Identity.verified.desc(), Identity.created)
            .limit(1)
        )
        if not accounts or identity is None:
            raise NoRoute(
                f"customer {customer.id} cannot be reached on {channel_name}: it needs a"
                f" configured account and an identity of kind {' or '.join(channel.identity_kinds)}"
            )
        return Route(channel, accounts[0], IdentityRef(identity.kind, identity.value))

    def has_consent(self, merge_set: Sequence[uuid.UUID], purpose: str, channel: str) -> bool:
        """Whether the latest consent entry for ``purpose`` on ``channel`` (or on every
        channel) is a grant."""
        return consent_in_force(self.session, merge_set, purpose, channel) is not None

    def send(
        self,
        customer: Customer,
        merge_set: Sequence[uuid.UUID],
        text: str,
        *,
        channel: str | None = None,
        purpose: str = "service",
        organization_id: uuid.UUID | None = None,
    ) -> Interaction:
        """Send ``text`` and put it on the customer's timeline.

        :raises NoRoute: when the customer cannot be reached on that channel.
        :raises NoConsent: without a grant for ``purpose`` on the chosen channel.
        :raises NotDelivered: when the provider refuses or keeps failing; the attempt is on
            the timeline as failed, in the session.
        """
        route = self.route(customer, merge_set, channel)
        if not self.has_consent(merge_set, purpose, route.channel.name):
            raise NoConsent(
                f"customer {customer.id} has not consented to {purpose!r} messages"
                f" on {route.channel.name}",
                purpose=purpose,
                channel=route.channel.name,
            )
        try:
            external_id = deliver(route, text, client=self.client)
        except DeliveryError as refused:
            entry = Timeline(self.session).failed(
                market=customer.market,
                customer_id=customer.id,
                channel=route.channel.name,
                touchpoint=route.account.name,
                text=text,
                reason=str(refused),
                organization_id=organization_id,
            )
            raise NotDelivered(str(refused), entry_id=entry.id) from refused
        return self.record_sent(customer, route, text, external_id, organization_id=organization_id)

    def record_sent(
        self,
        customer: Customer,
        route: Route,
        text: str,
        external_id: str,
        *,
        organization_id: uuid.UUID | None = None,
        summary: str | None = None,
    ) -> Interaction:
        """Put a message sent on the customer's timeline."""
        return Timeline(self.session).sent(
            market=customer.market,
            customer_id=customer.id,
            channel=route.channel.name,
            touchpoint=route.account.name,
            text=text,
            external_id=external_id,
            organization_id=organization_id,
            summary=summary,
        )
