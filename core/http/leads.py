"""``/api/leads`` and ``/api/dealers/nearest``: leads routed to the nearest dealer and
followed up to a sale."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from regiocrm.crm import audit
from regiocrm.crm.access import Scope, holds, rows_in
from regiocrm.crm.customers import Customers, UnknownCustomer
from regiocrm.crm.lead_lifecycle import (
    Conflict,
    LeadError,
    LeadLifecycle,
    Sale,
    UnknownLead,
    overdue,
)
from regiocrm.crm.leads import Leads, NewLead
from regiocrm.geo.datums import NoEquivalent
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import CurrentUser, DbSession, Svc, Viewer
from regiocrm.http.paging import PAGE_DEFAULT, Limit, where_given
from regiocrm.http.problems import problems
from regiocrm.interfaces.maps import Datum, Point
from regiocrm.interfaces.packs import PackError
from regiocrm.interfaces.terms import LeadStatus
from regiocrm.models import Lead, Organization
from regiocrm.models.base import utcnow

router = APIRouter(prefix="/api", tags=["leads"])

MARKET = r"^[A-Z]{2}$"
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


class LeadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    market: str = Field(pattern=MARKET, examples=["CN"])
    address: str | None = Field(default=None, max_length=500, examples=["上海市浦东新区张江路"])
    lat: Latitude | None = None
    lon: Longitude | None = None
    datum: Datum = Datum.WGS84
    customer_id: uuid.UUID | None = None
    source: str | None = Field(default=None, max_length=60)
    vehicle_model: str | None = Field(default=None, max_length=60)

    @model_validator(mode="after")
    def _placed(self) -> LeadIn:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        if self.lat is None and (self.address is None or not self.address.strip()):
            raise ValueError("a lead needs an address or a point (lat and lon)")
        return self


def _dealer(session: DbSession, dealer_id: uuid.UUID | None) -> dict[str, Any] | None:
    if dealer_id is None:
        return None
    dealer = session.get_one(Organization, dealer_id)
    return {
        "id": str(dealer.id),
        "name": dealer.name,
        "subdivision": dealer.subdivision,
        "address": dealer.address,
        "lat": dealer.latitude,
        "lon": dealer.longitude,
    }


def _as_json(session: DbSession, lead: Lead) -> dict[str, Any]:
    return {
        "id": str(lead.id),
        "market": lead.market,
        "status": lead.status.value,
        "address": lead.address,
        "lat": lead.latitude,
        "lon": lead.longitude,
        "located_by": lead.located_by,
        "dealer": _dealer(session, lead.dealer_id),
        "distance_km": lead.distance_km,
        "unassigned_reason": lead.unassigned_reason,
        "customer_id": str(lead.customer_id) if lead.customer_id else None,
        "vehicle_model": lead.vehicle_model,
        "follow_up_due_at": (
            None if lead.follow_up_due_at is None else lead.follow_up_due_at.isoformat()
        ),
        "lost_reason": lead.lost_reason,
        "ownership_id": str(lead.ownership_id) if lead.ownership_id else None,
    }


class LeadStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: LeadStatus
    reason: str = Field(default="", max_length=500, description="why a lead was lost")


class SaleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vin: str = Field(min_length=1, max_length=20, examples=["LSVAU2180N2183456"])
    started_on: date = Field(default_factory=date.today, description="the day of the sale")
    make: str | None = Field(default=None, max_length=60)
    model: str | None = Field(default=None, max_length=60, description="default: the lead's")
    model_year: int | None = Field(default=None, ge=1900, le=2100)
    customer_id: uuid.UUID | None = Field(
        default=None, description="the buyer, for a lead that has no customer"
    )


@router.post(
    "/leads",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 413, 422, 503),
)
def create_lead(
    body: LeadIn, user: CurrentUser, scope: Viewer, session: DbSession, svc: Svc
) -> dict[str, Any]:
    """Store a lead and route it to the nearest active dealer of its market. A lead that
    cannot be placed is kept unassigned, with ``unassigned_reason`` saying why; a point with
    no WGS-84 equivalent (a BD-09 point at the south pole or the antimeridian) is 422."""
    point = None if body.lat is None or body.lon is None else Point(body.lat, body.lon, body.datum)
    leads = Leads(session, svc.hooks, svc.maps, svc.dealers)
    scope.require_customers()
    try:
        if body.customer_id is not None:
            Customers(session, svc.hooks).visible(body.customer_id, scope)
        lead = leads.create(
            NewLead(
                market=body.market,
                address=body.address,
                point=point,
                customer_id=body.customer_id,
                source=body.source,
                vehicle_model=body.vehicle_model,
            )
        )
    except (PackError, UnknownCustomer, NoEquivalent) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return _as_json(session, lead)


@router.get("/leads", responses=problems(401, 403, 422, 503))
def list_leads(
    user: CurrentUser,
    scope: Viewer,
    session: DbSession,
    dealer_id: uuid.UUID | None = None,
    status_: Annotated[LeadStatus | None, Query(alias="status")] = None,
    overdue_only: Annotated[
        bool, Query(alias="overdue", description="open leads whose follow-up is late")
    ] = False,
    limit: Limit = PAGE_DEFAULT,
) -> dict[str, Any]:
    """Leads the caller sees, the follow-up due soonest first."""
    scope.require_customers()
    query = where_given(
        select(Lead)
        .where(rows_in(scope, Lead.market, Lead.dealer_id))
        .order_by(Lead.follow_up_due_at, Lead.id)
        .limit(limit),
        {Lead.dealer_id: dealer_id, Lead.status: status_},
    )
    if overdue_only:
        query = query.where(overdue(utcnow()))
    found = list(session.scalars(query))
    audit.record_reads(session, actor_id=user.id, subject_type="lead", subjects=found)
    return {"items": [_as_json(session, lead) for lead in found]}


def _lead(session: DbSession, scope: Scope, lead_id: uuid.UUID) -> Lead:
    """The lead, if the caller sees it: one outside the scope is answered as unknown."""
    scope.require_customers()
    lead = session.get(Lead, lead_id)
    if lead is None or not holds(scope, lead.market, lead.dealer_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no lead {lead_id}")
    return lead


@router.get("/leads/{lead_id}", responses=problems(401, 403, 404, 422, 503))
def get_lead(
    lead_id: uuid.UUID, user: CurrentUser, scope: Viewer, session: DbSession
) -> dict[str, Any]:
    """A lead with the dealer it was routed to and the distance."""
    lead = _lead(session, scope, lead_id)
    audit.record_reads(session, actor_id=user.id, subject_type="lead", subjects=[lead])
    return _as_json(session, lead)


@router.post("/leads/{lead_id}/transition", responses=problems(400, 401, 403, 404, 413, 422, 503))
def transition_lead(
    lead_id: uuid.UUID,
    body: LeadStep,
    user: CurrentUser,
    scope: Viewer,
    session: DbSession,
    svc: Svc,
) -> dict[str, Any]:
    """Move a lead on: ``contacted``, ``qualified``, or ``lost`` with its reason. A step the
    lead cannot take is 400 with where it may go; nothing is stored."""
    _lead(session, scope, lead_id)
    try:
        lead = LeadLifecycle(session, svc.hooks).transition(
            lead_id, body.to, actor_id=user.id, reason=body.reason
        )
    except UnknownLead as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except LeadError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    return _as_json(session, lead)


@router.post("/leads/{lead_id}/convert", responses=problems(400, 401, 403, 404, 409, 413, 422, 503))
def convert_lead(
    lead_id: uuid.UUID,
    body: SaleIn,
    user: CurrentUser,
    scope: Viewer,
    session: DbSession,
    svc: Svc,
) -> dict[str, Any]:
    """Win a qualified lead with the sale of a vehicle: the customer owns it from
    ``started_on``, bought from the lead's dealer. Sending the same sale again is safe.
    A lead not qualified or a malformed VIN is 400; another vehicle than the lead was won
    with, or a vehicle someone owns, 409; an unknown buyer 422."""
    _lead(session, scope, lead_id)
    sale = Sale(**body.model_dump())
    try:
        if body.customer_id is not None:
            Customers(session, svc.hooks).visible(body.customer_id, scope)
        lead = LeadLifecycle(session, svc.hooks).convert(lead_id, sale, actor_id=user.id)
    except UnknownLead as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except LeadError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    except UnknownCustomer as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return _as_json(session, lead)


@router.get("/dealers/nearest", responses=problems(401, 404, 422, 503))
def nearest_dealer(
    user: CurrentUser,
    session: DbSession,
    svc: Svc,
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    market: Annotated[str, Query(pattern=MARKET)],
    datum: Datum = Datum.WGS84,
) -> dict[str, Any]:
    """The nearest active dealer of ``market`` to a point (in any datum); 422 for a point
    with no WGS-84 equivalent (a BD-09 point at the south pole or the antimeridian)."""
    try:
        nearest = svc.dealers.nearest(session, market, Point(lat, lon, datum))
    except NoEquivalent as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    if nearest is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no active dealer of {market} has a location"
        )
    return {"dealer": _dealer(session, nearest.key), "distance_km": round(nearest.km, 3)}


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
