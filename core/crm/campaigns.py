"""Campaigns: a segment, channels in order of preference, a message per locale, and each
member's result.

Planning validates everything a launch needs (channels with an account, a message for every
market's default locale, placeholders) and refuses a campaign no customer of the segment
can receive. A launch lists the members first (each customer once, with the first channel
holding both their consent and a way to them, and the locale of their message), then sends
to each through the channel plugins, no faster than each channel allows. Killed at any
point, launching again goes on where it stopped: a member is listed once, and a member
whose send was under way when the process died is marked failed rather than sent twice.
Replies (a member's message within the reply window) and the providers' delivery receipts
complete each member's result.
"""

from __future__ import annotations

import string
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from regiocrm.crm import audit
from regiocrm.crm.access import organization_scope
from regiocrm.crm.customers import Customers, consent_in_force
from regiocrm.crm.segments import Evaluation, Segment
from regiocrm.crm.timeline import Timeline
from regiocrm.interfaces.channels import Channel, ChannelRegistry, Receipt, ReceiptStatus
from regiocrm.interfaces.formats import PersonName
from regiocrm.messaging.outbound import DeliveryError, Messaging, NoRoute, deliver
from regiocrm.models import (
    Campaign,
    CampaignMember,
    CampaignStatus,
    Customer,
    DeliveryStatus,
    Direction,
    Interaction,
    Organization,
    OrganizationKind,
)
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import catalog_names, parse_locale
from regiocrm.platform.ratelimit import RateLimiter
from regiocrm.platform.settings import CampaignSettings
from regiocrm.platform.stores import ZONES_OPTION, ZonedSession, ZoneStores

PLACEHOLDERS = frozenset({"name"})
LIST_BATCH = 500
SEND_BATCH = 100
INTERRUPTED = "interrupted while sending: not sent again, so as never to send twice"
# A member's result moves forward only: a late "delivered" never undoes a reply.
_RECEIPT_FROM = {
    ReceiptStatus.DELIVERED: (DeliveryStatus.SENT,),
    ReceiptStatus.READ: (DeliveryStatus.SENT,),
    ReceiptStatus.FAILED: (DeliveryStatus.SENT, DeliveryStatus.DELIVERED),
}


class CampaignError(Exception):
    """A campaign that cannot be planned or launched as asked; nothing was stored."""


class UnknownCampaign(CampaignError):
    pass


class NoAudience(CampaignError):
    """No customer of the segment has both consented and a way to be reached."""


@dataclass(frozen=True)
class Plan:
    name: str
    organization_id: uuid.UUID
    segment: Segment
    channels: tuple[str, ...]
    messages: Mapping[str, str]
    starts_at: datetime | None = None
    ends_at: datetime | None = None


@dataclass(frozen=True)
class Audience:
    """Who a campaign would reach: per market, the segment's customers by the channel that
    reaches them (``None``: no channel has their consent and a way to them)."""

    by_market: dict[str, dict[str | None, int]]

    @property
    def matched(self) -> int:
        return sum(sum(counts.values()) for counts in self.by_market.values())

    @property
    def reachable(self) -> int:
        return self.matched - self.unreachable

    @property
    def unreachable(self) -> int:
        return sum(counts.get(None, 0) for counts in self.by_market.values())

    def by_channel(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for counts in self.by_market.values():
            totals.update({channel: n for channel, n in counts.items() if channel is not None})
        return dict(totals)

    def as_dict(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "reachable": self.reachable,
            "unreachable": self.unreachable,
            "by_channel": self.by_channel(),
            "by_market": {
                market: {
                    "matched": sum(counts.values()),
                    "unreachable": counts.get(None, 0),
                    "by_channel": {c: n for c, n in counts.items() if c is not None},
                }
                for market, counts in self.by_market.items()
            },
        }


@dataclass(frozen=True)
class Results:
    """Where a campaign stands: its status and its members by result and channel."""

    campaign_id: uuid.UUID
    name: str
    status: CampaignStatus
    audience_size: int | None
    by_status: dict[str, int]
    by_channel: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.campaign_id),
            "name": self.name,
            "status": self.status.value,
            "audience_size": self.audience_size,
            "by_status": self.by_status,
            "by_channel": self.by_channel,
        }


def message_locale(messages: Mapping[str, str], locale: str) -> str | None:
    """The locale of the campaign's message for a reader of ``locale``: the most specific
    one written for it (``zh_Hant_HK``, ``zh_Hant``, ``zh``), as catalogs are chosen."""
    for name in catalog_names(parse_locale(locale)):
        if name in messages:
            return name
    return None


def _check_messages(messages: Mapping[str, str]) -> dict[str, str]:
    """The messages by canonical locale. :raises CampaignError: naming the bad one."""
    checked: dict[str, str] = {}
    for key, text in messages.items():
        try:
            locale = str(parse_locale(key))
        except ValueError as exc:
            raise CampaignError(f"messages: {exc}") from None
        if not text.strip():
            raise CampaignError(f"messages.{locale}: the message is empty")
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
        except ValueError as exc:
            raise CampaignError(
                f"messages.{locale}: {exc} (write a brace as {{{{ or }}}})"
            ) from None
        unknown = sorted(fields - PLACEHOLDERS)
        if unknown:
            raise CampaignError(
                f"messages.{locale}: unknown placeholder {{{unknown[0]}}}; the message may use"
                f" {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))}"
            )
        checked[locale] = text
    if not checked:
        raise CampaignError("messages: give the message in at least one locale")
    return checked


class Campaigns:
    """Planning and reading campaigns inside one session; the caller commits."""

    def __init__(self, session: ZonedSession, hooks: Hooks, registry: ChannelRegistry) -> None:
        self.session = session
        self.hooks = hooks
        self.registry = registry

    def get(self, campaign_id: uuid.UUID) -> Campaign:
        campaign = self.session.get(Campaign, campaign_id)
        if campaign is None:
            raise UnknownCampaign(f"no campaign {campaign_id}")
        return campaign

    def channels(self, names: Sequence[str]) -> list[Channel]:
        """The channels named, each with a configured account.

        :raises CampaignError: for none, a repeated one, an unknown one or one with no
            account.
        """
        if not names:
            raise CampaignError("channels: name at least one, the preferred first")
        if len(set(names)) != len(names):
            raise CampaignError("channels: each channel once, the preferred first")
        found = []
        for name in names:
            channel = self.registry.channels.get(name)
            if channel is None:
                known = ", ".join(sorted(self.registry.channels))
                raise CampaignError(f"channels: unknown channel {name!r} (installed: {known})")
            if not any(a.channel == name for a in self.registry.accounts.values()):
                raise CampaignError(
                    f"channels: no {name} account is configured ([channel_accounts.<name>]"
                    f" with channel = {name!r})"
                )
            found.append(channel)
        return found

    def evaluation(self, segment: Segment, organization_id: uuid.UUID) -> Evaluation:
        organization = self.session.get_one(Organization, organization_id)
        return Evaluation(
            segment,
            self.hooks.packs(),
            self.session.residency,
            organization_scope(self.session, organization),
        )

    def audience(
        self, segment: Segment, channels: Sequence[Channel], organization_id: uuid.UUID
    ) -> Audience:
        evaluation = self.evaluation(segment, organization_id)
        return Audience(evaluation.audience(self.session, channels))

    def plan(self, plan: Plan, *, actor_id: uuid.UUID | None) -> tuple[Campaign, Audience]:
        """Store a campaign once everything its launch needs holds.

        :raises CampaignError: for a blank name, a date range backwards, a bad channel or
            message, or a market whose customers would get no message.
        :raises NoAudience: when no customer of the segment can receive it.
        :raises regiocrm.crm.segments.SegmentError: for a market no pack serves.
        """
        name = plan.name.strip()
        if not name:
            raise CampaignError("name: a campaign needs a name")
        if plan.starts_at and plan.ends_at and plan.ends_at <= plan.starts_at:
            raise CampaignError(
                f"ends_at {plan.ends_at.isoformat()} is not after starts_at"
                f" {plan.starts_at.isoformat()}: the date range is backwards"
            )
        channels = self.channels(plan.channels)
        messages = _check_messages(plan.messages)
        packs = self.hooks.packs()
        audience = self.audience(plan.segment, channels, plan.organization_id)
        for market in plan.segment.markets:
            default = packs.market(market).locale
            if message_locale(messages, default) is None:
                raise CampaignError(
                    f"messages: none for {default}, the locale of {market}'s customers who"
                    " chose none"
                )
        organization = self.session.get_one(Organization, plan.organization_id)
        if audience.reachable == 0:
            raise NoAudience(_nobody(plan.segment, plan.channels, audience, organization))
        scheduled = plan.starts_at is not None and plan.starts_at > utcnow()
        campaign = Campaign(
            market=organization.market,
            name=name,
            status=CampaignStatus.SCHEDULED if scheduled else CampaignStatus.DRAFT,
            organization_id=organization.id,
            segment=plan.segment.as_saved(),
            channels=list(plan.channels),
            purpose=plan.segment.purpose,
            messages=messages,
            planned_by=actor_id,
            starts_at=plan.starts_at,
            ends_at=plan.ends_at,
        )
        self.session.add(campaign)
        self.session.flush()
        audit.record(
            self.session,
            actor_id=actor_id,
            action="campaign.planned",
            subject_type="campaign",
            subject=campaign,
            detail={"reachable": audience.reachable, "channels": ", ".join(plan.channels)},
        )
        return campaign, audience

    def preview(self, campaign: Campaign) -> Audience:
        """Who the campaign would reach if it were launched now."""
        return self.audience(
            Segment.parse(campaign.segment),
            self.channels(campaign.channels),
            campaign.organization_id,
        )

    def results(self, campaign: Campaign) -> Results:
        """The members by result and by channel, counted in each zone and added up."""
        by_status: Counter[str] = Counter()
        by_channel: dict[str, Counter[str]] = {}
        statement = (
            select(CampaignMember.channel, CampaignMember.status, func.count())
            .where(CampaignMember.campaign_id == campaign.id)
            .group_by(CampaignMember.channel, CampaignMember.status)
        )
        for zone in self.session.stores.names:
            rows = self.session.execute(statement.execution_options(**{ZONES_OPTION: [zone]}))
            for channel, status, count in rows:
                by_status[status.value] += count
                by_channel.setdefault(channel or "", Counter())[status.value] += count
        return Results(
            campaign.id,
            campaign.name,
            campaign.status,
            campaign.audience_size,
            dict(sorted(by_status.items())),
            {channel: dict(sorted(counts.items())) for channel, counts in by_channel.items()},
        )

    def members(
        self,
        campaign: Campaign,
        *,
        status: DeliveryStatus | None = None,
        after: uuid.UUID | None = None,
        limit: int = 100,
    ) -> list[CampaignMember]:
        """The campaign's members in id order, a page at a time."""
        query = (
            select(CampaignMember)
            .where(CampaignMember.campaign_id == campaign.id)
            .order_by(CampaignMember.id)
            .limit(limit)
        )
        if status is not None:
            query = query.where(CampaignMember.status == status)
        if after is not None:
            query = query.where(CampaignMember.id > after)
        return list(self.session.scalars(query))


def check_launchable(campaign: Campaign, now: datetime) -> None:
    """:raises CampaignError: for a campaign cancelled or completed, scheduled later than
    ``now``, or over."""
    if campaign.status in (CampaignStatus.CANCELLED, CampaignStatus.COMPLETED):
        raise CampaignError(f"campaign {campaign.name!r} is {campaign.status.value}")
    if campaign.starts_at is not None and campaign.starts_at > now:
        raise CampaignError(
            f"campaign {campaign.name!r} starts at {campaign.starts_at.isoformat()}: launch it then"
        )
    if campaign.ends_at is not None and campaign.ends_at <= now:
        raise CampaignError(f"campaign {campaign.name!r} ended at {campaign.ends_at.isoformat()}")


def _nobody(
    segment: Segment, channels: Sequence[str], audience: Audience, planner: Organization
) -> str:
    among = "customers"
    if planner.kind in (OrganizationKind.DEALER, OrganizationKind.WHOLESALER):
        among = f"customers of {planner.name} (linked to it or its dealers)"
    if audience.matched == 0:
        return f"no {among} match the segment: there is no one to send to"
    return (
        f"none of the {audience.matched} {among} matching the segment can receive it: none"
        f" has consented to {segment.purpose} messages on {' or '.join(channels)} with an"
        " identity the channel reaches"
    )


@dataclass
class Launcher:
    """Launching campaigns: listing members, then sending, each step committed as it goes.

    :param sleep: how to wait, for the rate limits and the provider retries (tests pass a
        recorder).
    """

    stores: ZoneStores
    hooks: Hooks
    registry: ChannelRegistry
    client: httpx.Client
    settings: CampaignSettings
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def launch(
        self,
        campaign_id: uuid.UUID,
        *,
        actor_id: uuid.UUID | None = None,
        on_listed: Callable[[int], None] | None = None,
        on_sent: Callable[[int, int], None] | None = None,
    ) -> Results:
        """List the members if not yet done, then send to every member not yet sent to.

        :param on_listed: called with the audience size once the members are listed.
        :param on_sent: called with (done, audience size) after each member.
        :raises UnknownCampaign: for no such campaign.
        :raises CampaignError: for a cancelled campaign or one scheduled later.
        :raises NoAudience: when no one can receive it any more (consents withdrawn since
            it was planned); it stays as it was.
        """
        # Committed step by step: a killed launch keeps what it did.
        with self.stores.sessionmaker()() as session:
            campaigns = Campaigns(session, self.hooks, self.registry)
            campaign = campaigns.get(campaign_id)
            if campaign.status is CampaignStatus.COMPLETED:
                return campaigns.results(campaign)
            now = utcnow()
            check_launchable(campaign, now)
            if campaign.audience_size is None:
                size = self._list_members(session, campaigns, campaign)
                if size == 0:
                    session.rollback()
                    raise NoAudience(
                        f"campaign {campaign.name!r} can reach no one any more: every"
                        " customer of its segment withdrew consent or lost the way to them"
                    )
                campaign.audience_size = size
                campaign.status = CampaignStatus.RUNNING
                campaign.launched_at = now
                audit.record(
                    session,
                    actor_id=actor_id,
                    action="campaign.launched",
                    subject_type="campaign",
                    subject=campaign,
                    detail={"members": size},
                )
                session.commit()
            size = campaign.audience_size
            if on_listed is not None:
                on_listed(size)
            self._give_up_interrupted(session, campaign)
            session.commit()

            def progress(done: int) -> None:
                if on_sent is not None:
                    on_sent(done, size)

            self._send_all(session, campaign, progress)
            campaign.status = CampaignStatus.COMPLETED
            campaign.completed_at = utcnow()
            session.commit()
            return campaigns.results(campaign)

    def _list_members(self, session: ZonedSession, campaigns: Campaigns, campaign: Campaign) -> int:
        """Add each reachable customer of the segment as a member, once, a batch at a time
        (committed, so a second launch after a crash goes on from there); how many there
        are."""
        segment = Segment.parse(campaign.segment)
        evaluation = campaigns.evaluation(segment, campaign.organization_id)
        packs = self.hooks.packs()
        batch: list[tuple[str, uuid.UUID, str | None, str]] = []
        listed = 0

        def flush() -> None:
            nonlocal listed
            known = set(
                session.scalars(
                    select(CampaignMember.customer_id).where(
                        CampaignMember.campaign_id == campaign.id,
                        CampaignMember.customer_id.in_([row[1] for row in batch]),
                    )
                )
            )
            for market, customer_id, locale, channel in batch:
                if customer_id in known:
                    continue
                reader = locale or packs.market(market).locale
                session.add(
                    CampaignMember(
                        market=market,
                        campaign_id=campaign.id,
                        customer_id=customer_id,
                        channel=channel,
                        locale=message_locale(campaign.messages, reader)
                        or message_locale(campaign.messages, packs.market(market).locale),
                    )
                )
            listed += len(batch)
            session.commit()
            batch.clear()

        for row in evaluation.members(session, campaigns.channels(campaign.channels)):
            batch.append(row)
            if len(batch) == LIST_BATCH:
                flush()
        if batch:
            flush()
        return listed

    def _give_up_interrupted(self, session: ZonedSession, campaign: Campaign) -> None:
        for member in session.scalars(
            select(CampaignMember).where(
                CampaignMember.campaign_id == campaign.id,
                CampaignMember.status == DeliveryStatus.SENDING,
            )
        ):
            member.status, member.error = DeliveryStatus.FAILED, INTERRUPTED

    def _send_all(
        self, session: ZonedSession, campaign: Campaign, progress: Callable[[int], None]
    ) -> None:
        rates = {
            name: self.settings.send_rates.get(name, channel.sends_per_second)
            for name, channel in self.registry.channels.items()
        }
        limiter = RateLimiter(rates, clock=self.clock, sleep=self.sleep)
        campaigns = Campaigns(session, self.hooks, self.registry)
        done = campaign.audience_size or 0
        done -= _count(session, campaign, DeliveryStatus.PENDING)
        progress(done)
        while True:
            pending = campaigns.members(campaign, status=DeliveryStatus.PENDING, limit=SEND_BATCH)
            if not pending:
                return
            for member in pending:
                limiter.acquire(member.channel or "")
                self._send(session, campaign, member)
                session.commit()
                done += 1
                progress(done)

    def _send(self, session: ZonedSession, campaign: Campaign, member: CampaignMember) -> None:
        """Send one member their message; the outcome is on the member."""
        channel = member.channel or ""
        customers = Customers(session, self.hooks)
        customer = customers.get(member.customer_id)
        merge_set = customers.merge_set(customer.id)
        if consent_in_force(session, merge_set, campaign.purpose, channel) is None:
            member.status = DeliveryStatus.FAILED
            member.error = f"consent to {campaign.purpose} messages on {channel} withdrawn"
            return
        messaging = Messaging(session, self.registry, self.client)
        try:
            # A campaign's message is news of its own, not an answer to their last one.
            route = replace(messaging.route(customer, merge_set, channel), answering=None)
        except NoRoute as exc:
            member.status, member.error = DeliveryStatus.FAILED, str(exc)
            return
        text = self._text(campaign, member, customer)
        member.status = DeliveryStatus.SENDING
        session.commit()
        try:
            external_id = deliver(route, text, client=self.client, sleep=self.sleep)
        except DeliveryError as exc:
            member.status, member.error = DeliveryStatus.FAILED, str(exc)
            return
        member.status, member.sent_at, member.external_id = (
            DeliveryStatus.SENT,
            utcnow(),
            external_id,
        )
        messaging.record_sent(
            customer,
            route,
            text,
            external_id,
            organization_id=campaign.organization_id,
            summary=f"campaign {campaign.name!r}",
        )

    def _text(self, campaign: Campaign, member: CampaignMember, customer: Customer) -> str:
        template = campaign.messages.get(member.locale or "") or next(
            iter(campaign.messages.values())
        )
        name = customer.company_name or self.hooks.format_name(
            name=PersonName(
                customer.family_name,
                customer.given_name,
                customer.family_name_phonetic,
                customer.given_name_phonetic,
            ),
            market=customer.market,
        )
        return str(template).format(name=name)


def _count(session: ZonedSession, campaign: Campaign, status: DeliveryStatus) -> int:
    total = 0
    statement = select(func.count()).where(
        CampaignMember.campaign_id == campaign.id, CampaignMember.status == status
    )
    for zone in session.stores.names:
        total += int(session.scalar(statement.execution_options(**{ZONES_OPTION: [zone]})) or 0)
    return total


def record_receipts(session: ZonedSession, receipts: Sequence[Receipt]) -> int:
    """Apply providers' delivery receipts to the members they are about, and a failure (a
    bounce) to the message on the timeline too; how many members changed. A receipt for a
    message no campaign sent, or one arriving again, changes no member."""
    changed = 0
    by_id = {receipt.external_id: receipt for receipt in receipts}
    if not by_id:
        return 0
    failed = [r.external_id for r in receipts if r.status is ReceiptStatus.FAILED]
    if failed:
        timeline = Timeline(session)
        for entry in session.scalars(
            select(Interaction).where(
                Interaction.external_id.in_(failed), Interaction.direction == Direction.OUTBOUND
            )
        ):
            receipt = by_id[entry.external_id or ""]
            timeline.bounced(entry, reason=receipt.error or "not delivered", at=receipt.at)
    for member in session.scalars(
        select(CampaignMember).where(CampaignMember.external_id.in_(list(by_id)))
    ):
        receipt = by_id[member.external_id or ""]
        if member.status not in _RECEIPT_FROM[receipt.status]:
            continue
        if receipt.status is ReceiptStatus.FAILED:
            member.status, member.error = DeliveryStatus.FAILED, receipt.error or "not delivered"
        else:
            member.status, member.delivered_at = DeliveryStatus.DELIVERED, receipt.at
        changed += 1
    return changed
