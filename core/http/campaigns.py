"""``/api/campaigns`` and ``/api/segments``: plan a campaign, see who it reaches, launch it,
follow each member's result."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from regiocrm.crm import audit
from regiocrm.crm.access import Scope, holds
from regiocrm.crm.campaigns import (
    Audience,
    CampaignError,
    Campaigns,
    Launcher,
    NoAudience,
    Plan,
    UnknownCampaign,
    check_launchable,
)
from regiocrm.crm.segments import Segment, SegmentError
from regiocrm.hookspecs import hookimpl
from regiocrm.http import paging
from regiocrm.http.deps import CurrentUser, DbSession, Svc, Viewer
from regiocrm.http.inputs import Moment
from regiocrm.http.problems import problems
from regiocrm.interfaces.terms import CampaignStatus, DeliveryStatus, UserRole
from regiocrm.models import Campaign, CampaignMember
from regiocrm.models.base import utcnow
from regiocrm.services.application import Application

log = logging.getLogger(__name__)
router = APIRouter(tags=["campaigns"])

PLANNERS = (
    UserRole.ADMIN,
    UserRole.COMPETENCE_CENTRE,
    UserRole.WHOLESALER_STAFF,
    UserRole.DEALER_STAFF,
)


class CampaignIn(BaseModel):
    """A campaign as planned: who (the segment), how (channels, the preferred first), what
    (the message per locale; ``{name}`` is the member's name) and when."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["車検のご案内 2027"])
    segment: dict[str, Any] = Field(examples=[{"markets": ["JP"], "contract_ends_within_days": 60}])
    channels: list[str] = Field(min_length=1, examples=[["line"]])
    messages: dict[str, str] = Field(examples=[{"ja_JP": "{name}様、ご契約の更新のご案内です。"}])
    starts_at: Moment | None = None
    ends_at: Moment | None = None

    def plan(self, organization_id: uuid.UUID) -> Plan:
        """:raises SegmentError: for an unknown segment field or a bad value."""
        return Plan(
            name=self.name,
            organization_id=organization_id,
            segment=Segment.parse(self.segment),
            channels=tuple(self.channels),
            messages=self.messages,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
        )


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment: dict[str, Any]
    channels: list[str] = Field(
        default_factory=list, description="count who each would reach, the preferred first"
    )


def campaign_json(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": str(campaign.id),
        "name": campaign.name,
        "status": campaign.status.value,
        "organization_id": str(campaign.organization_id),
        "segment": campaign.segment,
        "channels": campaign.channels,
        "purpose": campaign.purpose,
        "messages": campaign.messages,
        "starts_at": campaign.starts_at.isoformat() if campaign.starts_at else None,
        "ends_at": campaign.ends_at.isoformat() if campaign.ends_at else None,
        "launched_at": campaign.launched_at.isoformat() if campaign.launched_at else None,
        "completed_at": campaign.completed_at.isoformat() if campaign.completed_at else None,
        "audience_size": campaign.audience_size,
    }


def member_json(member: CampaignMember) -> dict[str, Any]:
    def moment(value: Any) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "id": str(member.id),
        "customer_id": str(member.customer_id),
        "market": member.market,
        "channel": member.channel,
        "locale": member.locale,
        "status": member.status.value,
        "sent_at": moment(member.sent_at),
        "delivered_at": moment(member.delivered_at),
        "replied_at": moment(member.replied_at),
        "error": member.error,
    }


def _bad(exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, str(exc))


def _campaign(campaigns: Campaigns, scope: Scope, campaign_id: uuid.UUID) -> Campaign:
    """The campaign, if the caller plans campaigns and sees its organization's."""
    scope.require(*PLANNERS)
    try:
        campaign = campaigns.get(campaign_id)
    except UnknownCampaign as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    if not holds(scope, campaign.market, campaign.organization_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no campaign {campaign_id}")
    return campaign


@router.post("/api/segments/count", responses=problems(400, 401, 403, 413, 422, 503))
def count_segment(
    body: SegmentIn, user: CurrentUser, scope: Viewer, session: DbSession, svc: Svc
) -> dict[str, Any]:
    """How many customers a segment holds (within what the caller's organization reaches),
    and who each channel would reach with their consent. An unknown field is 400."""
    scope.require(*PLANNERS)
    campaigns = Campaigns(session, svc.hooks, svc.channels)
    try:
        segment = Segment.parse(body.segment)
        evaluation = campaigns.evaluation(segment, user.organization_id)
        if not body.channels:
            return {"by_market": evaluation.count(session)}
        channels = campaigns.channels(body.channels)
    except (SegmentError, CampaignError) as exc:
        raise _bad(exc) from None
    return Audience(evaluation.audience(session, channels)).as_dict()


@router.post(
    "/api/campaigns",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 413, 422, 503),
)
def plan_campaign(
    body: CampaignIn, user: CurrentUser, scope: Viewer, session: DbSession, svc: Svc
) -> dict[str, Any]:
    """Plan a campaign for the caller's organization. 400 with the reason for an unknown
    segment field, a bad channel or message, a date range backwards, or a segment no one
    in which can receive it; nothing is stored."""
    scope.require(*PLANNERS)
    try:
        campaign, audience = Campaigns(session, svc.hooks, svc.channels).plan(
            body.plan(user.organization_id), actor_id=user.id
        )
    except (SegmentError, CampaignError) as exc:
        raise _bad(exc) from None
    return {**campaign_json(campaign), "audience": audience.as_dict()}


@router.get("/api/campaigns/{campaign_id}", responses=problems(401, 403, 404, 422, 503))
def read_campaign(
    campaign_id: uuid.UUID, scope: Viewer, session: DbSession, svc: Svc
) -> dict[str, Any]:
    """The campaign with its members counted by result and by channel."""
    campaigns = Campaigns(session, svc.hooks, svc.channels)
    campaign = _campaign(campaigns, scope, campaign_id)
    return {**campaign_json(campaign), "results": campaigns.results(campaign).as_dict()}


@router.get(
    "/api/campaigns/{campaign_id}/preview", responses=problems(400, 401, 403, 404, 422, 503)
)
def preview_campaign(
    campaign_id: uuid.UUID, scope: Viewer, session: DbSession, svc: Svc
) -> dict[str, Any]:
    """Who the campaign would reach if launched now, by market and channel."""
    campaigns = Campaigns(session, svc.hooks, svc.channels)
    campaign = _campaign(campaigns, scope, campaign_id)
    try:
        return campaigns.preview(campaign).as_dict()
    except (SegmentError, CampaignError) as exc:
        raise _bad(exc) from None


@router.post(
    "/api/campaigns/{campaign_id}/launch",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(400, 401, 403, 404, 413, 422, 503),
)
def launch_campaign(
    campaign_id: uuid.UUID,
    user: CurrentUser,
    scope: Viewer,
    session: DbSession,
    svc: Svc,
    background: BackgroundTasks,
) -> dict[str, Any]:
    """Start sending: the answer comes at once, the sending goes on after it (follow it with
    ``GET /api/campaigns/{id}``). A campaign completed, cancelled, scheduled later or with
    no one left to reach is 400."""
    campaigns = Campaigns(session, svc.hooks, svc.channels)
    campaign = _campaign(campaigns, scope, campaign_id)
    try:
        check_launchable(campaign, utcnow())
        if campaign.audience_size is None and campaigns.preview(campaign).reachable == 0:
            raise NoAudience(f"campaign {campaign.name!r} can reach no one any more")
    except CampaignError as exc:
        raise _bad(exc) from None
    background.add_task(_launch, svc, campaign.id, user.id)
    return {**campaign_json(campaign), "status": CampaignStatus.RUNNING.value}


def _launch(svc: Application, campaign_id: uuid.UUID, actor_id: uuid.UUID) -> None:
    launcher = Launcher(
        svc.stores, svc.hooks, svc.channels, svc.http_client, svc.settings.campaigns
    )
    try:
        launcher.launch(campaign_id, actor_id=actor_id)
    except CampaignError:
        log.exception("campaign %s was not launched", campaign_id)


@router.get(
    "/api/campaigns/{campaign_id}/members", responses=problems(400, 401, 403, 404, 422, 503)
)
def campaign_members(
    campaign_id: uuid.UUID,
    user: CurrentUser,
    scope: Viewer,
    session: DbSession,
    svc: Svc,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Each member's result, a page at a time: channel, locale, status, when it was sent,
    delivered and replied to, and why it failed."""
    campaigns = Campaigns(session, svc.hooks, svc.channels)
    campaign = _campaign(campaigns, scope, campaign_id)
    after = paging.decode(cursor)
    try:
        after_id = None if after is None else uuid.UUID(after)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, paging.NOT_A_CURSOR) from None
    page = campaigns.members(campaign, status=status_, after=after_id, limit=limit + 1)
    audit.record(
        session,
        actor_id=user.id,
        action="campaign.members_read",
        subject_type="campaign",
        subject=campaign,
    )
    last = page[limit - 1] if len(page) > limit else None
    return {
        "items": [member_json(member) for member in page[:limit]],
        "next": paging.encode(str(last.id)) if last else None,
    }


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
