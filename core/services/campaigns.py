"""Campaigns and segments for front ends: who a segment holds, a campaign planned, previewed,
launched and followed, by a caller who plans campaigns, or by the deployment's operator.

A caller plans for their own organization and reaches the customers it reaches
(:func:`regiocrm.crm.access.organization_scope`); they see the campaigns of the
organizations in their scope, and one outside it is answered as one that does not exist.
Reading a campaign's members (who got which message) is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from regiocrm.crm import audit
from regiocrm.crm.access import holds, rows_in
from regiocrm.crm.accounts import UnknownOrganization, organization_named
from regiocrm.crm.campaigns import (
    Audience,
    Campaigns,
    Launcher,
    NoAudience,
    Plan,
    Results,
    UnknownCampaign,
    check_launchable,
)
from regiocrm.crm.segments import Segment
from regiocrm.interfaces.terms import DeliveryStatus, UserRole
from regiocrm.models import Campaign, CampaignMember
from regiocrm.models.base import utcnow
from regiocrm.platform.stores import ZonedSession
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller

PLANNERS = frozenset(
    {
        UserRole.ADMIN,
        UserRole.COMPETENCE_CENTRE,
        UserRole.WHOLESALER_STAFF,
        UserRole.DEALER_STAFF,
    }
)


@dataclass(frozen=True)
class Draft:
    """A campaign as a planner writes it: who (the segment, as given), how (channels, the
    preferred first), what (the message per locale) and when."""

    name: str
    segment: Mapping[str, Any]
    channels: tuple[str, ...]
    messages: Mapping[str, str]
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    def plan(self, organization_id: uuid.UUID) -> Plan:
        """:raises regiocrm.crm.segments.SegmentError: for an unknown segment field or a
        bad value."""
        return Plan(
            name=self.name,
            organization_id=organization_id,
            segment=Segment.parse(self.segment),
            channels=self.channels,
            messages=self.messages,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
        )


def _moment(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True)
class CampaignView:
    """A campaign as front ends show it."""

    id: uuid.UUID
    name: str
    status: str
    organization_id: uuid.UUID
    segment: dict[str, Any]
    channels: list[str]
    purpose: str
    messages: dict[str, Any]
    starts_at: datetime | None
    ends_at: datetime | None
    launched_at: datetime | None
    completed_at: datetime | None
    audience_size: int | None

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignView:
        return cls(
            id=campaign.id,
            name=campaign.name,
            status=campaign.status.value,
            organization_id=campaign.organization_id,
            segment=dict(campaign.segment),
            channels=list(campaign.channels),
            purpose=campaign.purpose,
            messages=dict(campaign.messages),
            starts_at=campaign.starts_at,
            ends_at=campaign.ends_at,
            launched_at=campaign.launched_at,
            completed_at=campaign.completed_at,
            audience_size=campaign.audience_size,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            **vars(self),
            "id": str(self.id),
            "organization_id": str(self.organization_id),
            "starts_at": _moment(self.starts_at),
            "ends_at": _moment(self.ends_at),
            "launched_at": _moment(self.launched_at),
            "completed_at": _moment(self.completed_at),
        }


@dataclass(frozen=True)
class Planned:
    """A campaign planned, and who it would reach."""

    campaign: CampaignView
    audience: Audience


@dataclass(frozen=True)
class Standing:
    """A campaign and its members counted by result and by channel."""

    campaign: CampaignView
    results: Results


@dataclass(frozen=True)
class MemberView:
    """A campaign's member and their result."""

    id: uuid.UUID
    customer_id: uuid.UUID
    market: str
    channel: str | None
    locale: str | None
    status: str
    sent_at: datetime | None
    delivered_at: datetime | None
    replied_at: datetime | None
    error: str | None

    @classmethod
    def of(cls, member: CampaignMember) -> MemberView:
        return cls(
            id=member.id,
            customer_id=member.customer_id,
            market=member.market,
            channel=member.channel,
            locale=member.locale,
            status=member.status.value,
            sent_at=member.sent_at,
            delivered_at=member.delivered_at,
            replied_at=member.replied_at,
            error=member.error,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            **vars(self),
            "id": str(self.id),
            "customer_id": str(self.customer_id),
            "sent_at": _moment(self.sent_at),
            "delivered_at": _moment(self.delivered_at),
            "replied_at": _moment(self.replied_at),
        }


@dataclass(frozen=True)
class MemberPage:
    """Members in id order, and the id the next page starts after (``None``: the last)."""

    items: list[MemberView]
    next: uuid.UUID | None


class CampaignService:
    """What a caller may do with segments and campaigns, and what the operator may; each
    method one transaction, committed before it returns, but a launch, which commits as it
    goes.

    Every method for a caller raises :class:`~regiocrm.crm.access.Forbidden` for a role
    that plans no campaigns (admins, competence centres, wholesalers and dealers plan
    them), and those naming a campaign raise
    :class:`~regiocrm.crm.campaigns.UnknownCampaign` for no such campaign, and alike for
    one outside the caller's scope.
    """

    def __init__(self, app: Application) -> None:
        self.app = app

    def recent(self, caller: Caller, *, limit: int) -> list[CampaignView]:
        """The campaigns of the organizations in the caller's scope, the newest first, at
        most ``limit`` of them."""
        caller.scope.require(*PLANNERS)
        query = (
            select(Campaign)
            .where(rows_in(caller.scope, Campaign.market, Campaign.organization_id))
            .order_by(Campaign.created.desc(), Campaign.id.desc())
            .limit(limit)
        )
        with self.app.transaction() as session:
            return [CampaignView.of(campaign) for campaign in session.scalars(query)]

    def channels(self, caller: Caller) -> list[str]:
        """The channels a campaign may be sent through: those installed with an account
        configured, by name."""
        caller.scope.require(*PLANNERS)
        registry = self.app.channels
        return sorted(
            {a.channel for a in registry.accounts.values() if a.channel in registry.channels}
        )

    def count(self, caller: Caller, segment: Mapping[str, Any]) -> dict[str, int]:
        """How many customers the segment holds in each market, of those the caller's
        organization reaches.

        :raises regiocrm.crm.segments.SegmentError: for an unknown field or a bad value.
        """
        caller.scope.require(*PLANNERS)
        parsed = Segment.parse(segment)
        with self.app.transaction() as session:
            evaluation = self._campaigns(session).evaluation(parsed, caller.organization)
            return evaluation.count(session)

    def audience(
        self, caller: Caller, segment: Mapping[str, Any], channels: Sequence[str]
    ) -> Audience:
        """Who each of ``channels`` (the preferred first) would reach of the segment's
        customers that the caller's organization reaches, with their consent.

        :raises regiocrm.crm.segments.SegmentError: for an unknown field or a bad value.
        :raises regiocrm.crm.campaigns.CampaignError: for a channel repeated, unknown or
            without an account.
        """
        caller.scope.require(*PLANNERS)
        parsed = Segment.parse(segment)
        with self.app.transaction() as session:
            campaigns = self._campaigns(session)
            evaluation = campaigns.evaluation(parsed, caller.organization)
            return Audience(evaluation.audience(session, campaigns.channels(channels)))

    def plan(self, caller: Caller, draft: Draft) -> Planned:
        """Plan a campaign for the caller's organization once everything its launch needs
        holds; nothing is stored otherwise. Audited.

        :raises regiocrm.crm.segments.SegmentError: for an unknown segment field or a bad
            value, or a market no pack serves.
        :raises regiocrm.crm.campaigns.CampaignError: for a blank name, a date range
            backwards, a bad channel or message.
        :raises NoAudience: when no one in the segment can receive it.
        """
        caller.scope.require(*PLANNERS)
        plan = draft.plan(caller.organization)
        with self.app.transaction() as session:
            campaign, audience = self._campaigns(session).plan(plan, actor_id=caller.user_id)
            return Planned(CampaignView.of(campaign), audience)

    def plan_as_operator(self, organization: str, draft: Draft) -> Planned:
        """Plan a campaign for the organization named, as the deployment's operator (the
        CLI, audited as the system); refused as :meth:`plan` refuses, and also:

        :raises UnknownOrganization: for no organization of that name.
        :raises regiocrm.residency.rules.ApartError: for a segment relating data its
            market keeps in different zones.
        """
        with self.app.transaction() as session:
            found = organization_named(session, organization)
            if found is None:
                raise UnknownOrganization(f"no organization named {organization!r}")
            campaign, audience = self._campaigns(session).plan(draft.plan(found.id), actor_id=None)
            return Planned(CampaignView.of(campaign), audience)

    def get(self, caller: Caller, campaign_id: uuid.UUID) -> Standing:
        """The campaign with its members counted by result and by channel."""
        with self.app.transaction() as session:
            campaign = self._visible(session, caller, campaign_id)
            return Standing(CampaignView.of(campaign), self._campaigns(session).results(campaign))

    def results_as_operator(self, campaign_id: uuid.UUID) -> Results:
        """Where any campaign stands, for the deployment's operator."""
        with self.app.transaction() as session:
            campaigns = self._campaigns(session)
            return campaigns.results(campaigns.get(campaign_id))

    def preview(self, caller: Caller, campaign_id: uuid.UUID) -> Audience:
        """Who the campaign would reach if launched now, by market and channel.

        :raises regiocrm.crm.campaigns.CampaignError: for a channel no longer configured.
        """
        with self.app.transaction() as session:
            campaign = self._visible(session, caller, campaign_id)
            return self._campaigns(session).preview(campaign)

    def preview_as_operator(self, campaign_id: uuid.UUID) -> Audience:
        """Who any campaign would reach if launched now, for the deployment's operator."""
        with self.app.transaction() as session:
            campaigns = self._campaigns(session)
            return campaigns.preview(campaigns.get(campaign_id))

    def launchable(self, caller: Caller, campaign_id: uuid.UUID) -> CampaignView:
        """The campaign, once it is clear that a launch now would start; nothing is
        changed (:meth:`launch` does it).

        :raises regiocrm.crm.campaigns.CampaignError: for a campaign completed,
            cancelled, scheduled later or over.
        :raises NoAudience: for a campaign whose members are not yet listed and that can
            reach no one any more.
        """
        with self.app.transaction() as session:
            campaign = self._visible(session, caller, campaign_id)
            check_launchable(campaign, utcnow())
            if (
                campaign.audience_size is None
                and self._campaigns(session).preview(campaign).reachable == 0
            ):
                raise NoAudience(f"campaign {campaign.name!r} can reach no one any more")
            return CampaignView.of(campaign)

    def launch(self, caller: Caller, campaign_id: uuid.UUID) -> Results:
        """List the campaign's members if not yet done, then send to each not yet sent to,
        each step committed as it goes: a launch interrupted goes on where it stopped when
        launched again, and sends no one a message twice. Audited.

        :raises regiocrm.crm.campaigns.CampaignError: for a campaign cancelled or
            scheduled later.
        :raises NoAudience: when no one can receive it any more.
        """
        with self.app.transaction() as session:
            self._visible(session, caller, campaign_id)
        return self._launcher().launch(campaign_id, actor_id=caller.user_id)

    def launch_as_operator(
        self,
        campaign_id: uuid.UUID,
        *,
        on_listed: Callable[[int], None] | None = None,
        on_sent: Callable[[int, int], None] | None = None,
    ) -> Results:
        """Launch any campaign as the deployment's operator, as :meth:`launch` does.

        :param on_listed: called with the audience size once the members are listed.
        :param on_sent: called with (done, audience size) after each member.
        :raises UnknownCampaign: for no such campaign.
        """
        return self._launcher().launch(campaign_id, on_listed=on_listed, on_sent=on_sent)

    def members(
        self,
        caller: Caller,
        campaign_id: uuid.UUID,
        *,
        status: DeliveryStatus | None = None,
        after: uuid.UUID | None = None,
        limit: int,
    ) -> MemberPage:
        """The campaign's members and their results in id order, ``limit`` at a time after
        the member ``after``; the read is audited."""
        with self.app.transaction() as session:
            campaigns = self._campaigns(session)
            campaign = self._visible(session, caller, campaign_id)
            page = campaigns.members(campaign, status=status, after=after, limit=limit + 1)
            audit.record(
                session,
                actor_id=caller.user_id,
                action="campaign.members_read",
                subject_type="campaign",
                subject=campaign,
            )
            last = page[limit - 1] if len(page) > limit else None
            return MemberPage(
                [MemberView.of(member) for member in page[:limit]],
                None if last is None else last.id,
            )

    def _campaigns(self, session: ZonedSession) -> Campaigns:
        return Campaigns(session, self.app.hooks, self.app.channels)

    def _launcher(self) -> Launcher:
        app = self.app
        return Launcher(
            app.stores, app.hooks, app.channels, app.http_client, app.settings.campaigns
        )

    def _visible(self, session: ZonedSession, caller: Caller, campaign_id: uuid.UUID) -> Campaign:
        caller.scope.require(*PLANNERS)
        campaign = self._campaigns(session).get(campaign_id)
        if not holds(caller.scope, campaign.market, campaign.organization_id):
            raise UnknownCampaign(f"no campaign {campaign_id}")
        return campaign
