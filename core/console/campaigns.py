"""``/campaigns``: the campaigns a planner sees, planning one with its audience counted
before it is saved, launching it, and each member's result as it comes in.

Who may plan, and which campaigns they see, is the campaign service's to say
(:class:`~regiocrm.services.campaigns.CampaignService`): a role that plans none gets the
refusal page, a campaign out of the caller's scope the 404 page. A launch answers at once
and sends after the answer, as the API's does; the campaign's page polls its results.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from regiocrm.console.campaign_form import PlanForm
from regiocrm.console.markets import speaking
from regiocrm.console.pages import not_found, render
from regiocrm.console.sessions import PostedDep, Visit, VisitDep
from regiocrm.crm.access import Forbidden
from regiocrm.crm.campaigns import Audience, CampaignError, UnknownCampaign
from regiocrm.crm.segments import SegmentError
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import AppDep
from regiocrm.http.problems import AnswerInstead
from regiocrm.interfaces.terms import CampaignStatus
from regiocrm.platform.i18n import _
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller
from regiocrm.services.campaigns import CampaignService, CampaignView

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

LISTED = 100
MEMBERS_SHOWN = 50
LAUNCHABLE = frozenset({CampaignStatus.DRAFT, CampaignStatus.SCHEDULED})


def _refusing(signed: Visit, request: Request) -> AnswerInstead:
    return AnswerInstead(refused_to_plan(signed, request))


def refused_to_plan(signed: Visit, request: Request) -> HTMLResponse:
    """The refusal page for a role that plans no campaigns."""
    return render(
        signed.reader,
        request,
        "refused.html",
        status_code=status.HTTP_403_FORBIDDEN,
        reason=_("Your role does not plan campaigns."),
    )


@router.get("/campaigns")
def campaigns_page(request: Request, app: AppDep, signed: VisitDep) -> HTMLResponse:
    """The campaigns of the organizations the caller sees, newest first."""
    try:
        found = CampaignService(app).recent(signed.caller, limit=LISTED)
    except Forbidden:
        return refused_to_plan(signed, request)
    return render(signed.reader, request, "campaigns.html", campaigns=found)


def _plan_page(
    request: Request,
    app: Application,
    signed: Visit,
    form: PlanForm,
    *,
    audience: Audience | None = None,
    status_code: int = status.HTTP_200_OK,
) -> HTMLResponse:
    try:
        channels = CampaignService(app).channels(signed.caller)
    except Forbidden:
        raise _refusing(signed, request) from None
    if request.headers.get("hx-request") == "true":
        # htmx swaps only 2xx answers: a refused form comes back as one, its reasons in it.
        status_code = status.HTTP_200_OK
    return render(
        signed.reader,
        request,
        "campaign_plan.html",
        status_code=status_code,
        form=form,
        channels=channels,
        audience=audience,
    )


@router.get("/campaigns/new")
def plan_form(request: Request, app: AppDep, signed: VisitDep) -> HTMLResponse:
    """The planning form, empty; the first channel configured chosen."""
    return _plan_page(request, app, signed, PlanForm())


async def _posted_form(request: Request) -> PlanForm:
    """The planning form as posted: read here, on the event loop, so that the route that
    asks the services runs in the thread pool as every other page does, never blocking the
    loop the webhooks are answered on."""
    return PlanForm.of(await request.form())


PostedPlan = Annotated[PlanForm, Depends(_posted_form)]


@router.post("/campaigns/count")
def count_audience(
    request: Request, app: AppDep, signed: PostedDep, form: PostedPlan
) -> HTMLResponse:
    """Who the campaign as typed would reach, counted before anything is saved; the form
    comes back as typed with the count (or the reasons beside the fields)."""
    segment = form.segment()
    if not form.channel:
        form.errors["channel"] = _("Choose the channel to send through.")
    if segment is None or form.errors:
        return _plan_page(request, app, signed, form, status_code=status.HTTP_400_BAD_REQUEST)
    try:
        audience = CampaignService(app).audience(signed.caller, segment, [form.channel])
    except Forbidden:
        return refused_to_plan(signed, request)
    except (SegmentError, CampaignError) as exc:
        form.refuse(str(exc))
        return _plan_page(request, app, signed, form, status_code=status.HTTP_400_BAD_REQUEST)
    return _plan_page(request, app, signed, form, audience=audience)


@router.post("/campaigns")
def plan_campaign(request: Request, app: AppDep, signed: PostedDep, form: PostedPlan) -> Response:
    """Save the campaign planned, then show it; a refused form is shown again as typed,
    each reason beside its field, and nothing is stored."""
    draft = form.draft()
    if draft is None:
        return _plan_page(request, app, signed, form, status_code=status.HTTP_400_BAD_REQUEST)
    try:
        planned = CampaignService(app).plan(signed.caller, draft)
    except Forbidden:
        return refused_to_plan(signed, request)
    except (SegmentError, CampaignError) as exc:
        form.refuse(str(exc))
        return _plan_page(request, app, signed, form, status_code=status.HTTP_400_BAD_REQUEST)
    return RedirectResponse(f"/campaigns/{planned.campaign.id}", status.HTTP_303_SEE_OTHER)


def _campaign_id(signed: Visit, request: Request, value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise not_found(signed.reader, request) from None


def _campaign_page(
    request: Request,
    app: Application,
    signed: Visit,
    campaign_id: str,
    *,
    template: str = "campaign.html",
    launched: bool = False,
    error: str | None = None,
    status_code: int = status.HTTP_200_OK,
) -> HTMLResponse:
    found = _campaign_id(signed, request, campaign_id)
    campaigns = CampaignService(app)
    try:
        standing = campaigns.get(signed.caller, found)
        members = campaigns.members(signed.caller, found, limit=MEMBERS_SHOWN)
    except Forbidden:
        return refused_to_plan(signed, request)
    except UnknownCampaign:
        raise not_found(signed.reader, request) from None
    return render(
        signed.reader,
        request,
        template,
        status_code=status_code,
        standing=standing,
        campaign=standing.campaign,
        members=members,
        sending=_sending(standing.campaign, launched),
        launched=launched,
        launchable=standing.campaign.status in LAUNCHABLE,
        error=error,
    )


def _sending(campaign: CampaignView, launched: bool) -> bool:
    """Whether the campaign's results may still change: it runs, or it was just launched
    and the launch, which goes on after the answer, has not begun yet."""
    waiting = launched and campaign.launched_at is None and campaign.status in LAUNCHABLE
    return campaign.status == CampaignStatus.RUNNING or waiting


@router.get("/campaigns/{campaign_id}")
def campaign_page(
    request: Request, app: AppDep, signed: VisitDep, campaign_id: str, launched: bool = False
) -> HTMLResponse:
    """The campaign, where it stands, and its members' results, polled while it sends."""
    return _campaign_page(request, app, signed, campaign_id, launched=launched)


@router.get("/campaigns/{campaign_id}/results")
def campaign_results(
    request: Request, app: AppDep, signed: VisitDep, campaign_id: str, launched: bool = False
) -> HTMLResponse:
    """The results region of the campaign's page, which htmx polls while it sends."""
    return _campaign_page(
        request, app, signed, campaign_id, template="_campaign_results.html", launched=launched
    )


@router.post("/campaigns/{campaign_id}/launch")
def launch_campaign(
    request: Request,
    app: AppDep,
    signed: PostedDep,
    background: BackgroundTasks,
    campaign_id: str,
) -> Response:
    """Start sending, after the answer; the campaign's page follows the results. A
    campaign that cannot be launched is shown again with the reason."""
    found = _campaign_id(signed, request, campaign_id)
    try:
        with speaking(signed.reader, request):
            campaign = CampaignService(app).launchable(signed.caller, found)
    except Forbidden:
        return refused_to_plan(signed, request)
    except UnknownCampaign:
        raise not_found(signed.reader, request) from None
    except CampaignError as exc:
        return _campaign_page(
            request,
            app,
            signed,
            campaign_id,
            error=str(exc),
            status_code=status.HTTP_400_BAD_REQUEST,
        )
    background.add_task(_launch, app, signed.caller, campaign.id)
    return RedirectResponse(f"/campaigns/{campaign.id}?launched=1", status.HTTP_303_SEE_OTHER)


def _launch(app: Application, caller: Caller, campaign_id: uuid.UUID) -> None:
    # The answer has long been sent: what stops a launch goes to the log, as the API's.
    try:
        CampaignService(app).launch(caller, campaign_id)
    except CampaignError:
        log.exception("campaign %s was not launched", campaign_id)


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
