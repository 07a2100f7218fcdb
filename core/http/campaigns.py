"""``/api/campaigns`` and ``/api/segments``: plan a campaign, see who it reaches, launch it,
follow each member's result."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from regiocrm.crm.campaigns import CampaignError, UnknownCampaign
from regiocrm.crm.segments import SegmentError
from regiocrm.hookspecs import hookimpl
from regiocrm.http import paging
from regiocrm.http.deps import AppDep, CallerDep
from regiocrm.http.inputs import Moment
from regiocrm.http.problems import problems
from regiocrm.interfaces.terms import CampaignStatus, DeliveryStatus
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller
from regiocrm.services.campaigns import CampaignService, Draft

log = logging.getLogger(__name__)
router = APIRouter(tags=["campaigns"])


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

    def draft(self) -> Draft:
        return Draft(
            name=self.name,
            segment=self.segment,
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


def _bad(exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, str(exc))


def _unknown(exc: UnknownCampaign) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))


@router.post("/api/segments/count", responses=problems(400, 401, 403, 413, 422, 503))
def count_segment(body: SegmentIn, caller: CallerDep, app: AppDep) -> dict[str, Any]:
    """How many customers a segment holds (within what the caller's organization reaches),
    and who each channel would reach with their consent. An unknown field is 400."""
    campaigns = CampaignService(app)
    try:
        if not body.channels:
            return {"by_market": campaigns.count(caller, body.segment)}
        return campaigns.audience(caller, body.segment, body.channels).as_dict()
    except (SegmentError, CampaignError) as exc:
        raise _bad(exc) from None


@router.post(
    "/api/campaigns",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 413, 422, 503),
)
def plan_campaign(body: CampaignIn, caller: CallerDep, app: AppDep) -> dict[str, Any]:
    """Plan a campaign for the caller's organization. 400 with the reason for an unknown
    segment field, a bad channel or message, a date range backwards, or a segment no one
    in which can receive it; nothing is stored."""
    try:
        planned = CampaignService(app).plan(caller, body.draft())
    except (SegmentError, CampaignError) as exc:
        raise _bad(exc) from None
    return {**planned.campaign.as_json(), "audience": planned.audience.as_dict()}


@router.get("/api/campaigns/{campaign_id}", responses=problems(401, 403, 404, 422, 503))
def read_campaign(campaign_id: uuid.UUID, caller: CallerDep, app: AppDep) -> dict[str, Any]:
    """The campaign with its members counted by result and by channel."""
    try:
        standing = CampaignService(app).get(caller, campaign_id)
    except UnknownCampaign as exc:
        raise _unknown(exc) from None
    return {**standing.campaign.as_json(), "results": standing.results.as_dict()}


@router.get(
    "/api/campaigns/{campaign_id}/preview", responses=problems(400, 401, 403, 404, 422, 503)
)
def preview_campaign(campaign_id: uuid.UUID, caller: CallerDep, app: AppDep) -> dict[str, Any]:
    """Who the campaign would reach if launched now, by market and channel."""
    try:
        return CampaignService(app).preview(caller, campaign_id).as_dict()
    except UnknownCampaign as exc:
        raise _unknown(exc) from None
    except (SegmentError, CampaignError) as exc:
        raise _bad(exc) from None


@router.post(
    "/api/campaigns/{campaign_id}/launch",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(400, 401, 403, 404, 413, 422, 503),
)
def launch_campaign(
    campaign_id: uuid.UUID, caller: CallerDep, app: AppDep, background: BackgroundTasks
) -> dict[str, Any]:
    """Start sending: the answer comes at once, the sending goes on after it (follow it with
    ``GET /api/campaigns/{id}``). A campaign completed, cancelled, scheduled later or with
    no one left to reach is 400."""
    try:
        campaign = CampaignService(app).launchable(caller, campaign_id)
    except UnknownCampaign as exc:
        raise _unknown(exc) from None
    except CampaignError as exc:
        raise _bad(exc) from None
    background.add_task(_launch, app, caller, campaign.id)
    return {**campaign.as_json(), "status": CampaignStatus.RUNNING.value}


def _launch(app: Application, caller: Caller, campaign_id: uuid.UUID) -> None:
    try:
        CampaignService(app).launch(caller, campaign_id)
    except CampaignError:
        log.exception("campaign %s was not launched", campaign_id)


@router.get(
    "/api/campaigns/{campaign_id}/members", responses=problems(400, 401, 403, 404, 422, 503)
)
def campaign_members(
    campaign_id: uuid.UUID,
    caller: CallerDep,
    app: AppDep,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Each member's result, a page at a time: channel, locale, status, when it was sent,
    delivered and replied to, and why it failed."""
    after = paging.decode(cursor)
    try:
        after_id = None if after is None else uuid.UUID(after)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, paging.NOT_A_CURSOR) from None
    try:
        page = CampaignService(app).members(
            caller, campaign_id, status=status_, after=after_id, limit=limit
        )
    except UnknownCampaign as exc:
        raise _unknown(exc) from None
    return {
        "items": [member.as_json() for member in page.items],
        "next": None if page.next is None else paging.encode(str(page.next)),
    }


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
