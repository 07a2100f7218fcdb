"""``/api/leads`` and ``/api/dealers/nearest``: leads routed to the nearest dealer and
followed up to a sale."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from regiocrm.crm.customers import UnknownCustomer
from regiocrm.crm.lead_lifecycle import Conflict, LeadError, Sale, UnknownLead
from regiocrm.crm.leads import NewLead
from regiocrm.geo.datums import NoEquivalent
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import AppDep, CallerDep
from regiocrm.http.paging import PAGE_DEFAULT, Limit
from regiocrm.http.problems import problems
from regiocrm.interfaces.maps import Datum, Point
from regiocrm.interfaces.packs import PackError
from regiocrm.interfaces.terms import LeadStatus
from regiocrm.services.leads import LeadService

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
    price: Decimal | None = Field(
        default=None,
        max_digits=14,
        description="what the buyer paid, in the market's currency: kept as a sales contract",
    )


@router.post(
    "/leads",
    status_code=status.HTTP_201_CREATED,
    responses=problems(400, 401, 403, 413, 422, 503),
)
def create_lead(body: LeadIn, caller: CallerDep, app: AppDep) -> dict[str, Any]:
    """Store a lead and route it to the nearest active dealer of its market. A lead that
    cannot be placed is kept unassigned, with ``unassigned_reason`` saying why; a point with
    no WGS-84 equivalent (a BD-09 point at the south pole or the antimeridian) is 422."""
    point = None if body.lat is None or body.lon is None else Point(body.lat, body.lon, body.datum)
    new = NewLead(
        market=body.market,
        address=body.address,
        point=point,
        customer_id=body.customer_id,
        source=body.source,
        vehicle_model=body.vehicle_model,
    )
    try:
        lead = LeadService(app).create(caller, new)
    except (PackError, UnknownCustomer, NoEquivalent) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return lead.as_json()


@router.get("/leads", responses=problems(401, 403, 422, 503))
def list_leads(
    caller: CallerDep,
    app: AppDep,
    dealer_id: uuid.UUID | None = None,
    status_: Annotated[LeadStatus | None, Query(alias="status")] = None,
    overdue_only: Annotated[
        bool, Query(alias="overdue", description="open leads whose follow-up is late")
    ] = False,
    limit: Limit = PAGE_DEFAULT,
) -> dict[str, Any]:
    """Leads the caller sees, the follow-up due soonest first."""
    found = LeadService(app).find(
        caller, dealer_id=dealer_id, status=status_, overdue_only=overdue_only, limit=limit
    )
    return {"items": [lead.as_json() for lead in found]}


@router.get("/leads/{lead_id}", responses=problems(401, 403, 404, 422, 503))
def get_lead(lead_id: uuid.UUID, caller: CallerDep, app: AppDep) -> dict[str, Any]:
    """A lead with the dealer it was routed to and the distance."""
    try:
        return LeadService(app).get(caller, lead_id).as_json()
    except UnknownLead as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.post("/leads/{lead_id}/transition", responses=problems(400, 401, 403, 404, 413, 422, 503))
def transition_lead(
    lead_id: uuid.UUID, body: LeadStep, caller: CallerDep, app: AppDep
) -> dict[str, Any]:
    """Move a lead on: ``contacted``, ``qualified``, or ``lost`` with its reason. A step the
    lead cannot take is 400 with where it may go; nothing is stored."""
    try:
        lead = LeadService(app).transition(caller, lead_id, body.to, reason=body.reason)
    except UnknownLead as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except LeadError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    return lead.as_json()


@router.post("/leads/{lead_id}/convert", responses=problems(400, 401, 403, 404, 409, 413, 422, 503))
def convert_lead(
    lead_id: uuid.UUID, body: SaleIn, caller: CallerDep, app: AppDep
) -> dict[str, Any]:
    """Win a qualified lead with the sale of a vehicle: the customer owns it from
    ``started_on``, bought from the lead's dealer, and a ``price`` becomes an active sales
    contract. Sending the same sale again is safe. A lead not qualified, a malformed VIN, a
    sale dated after today, or a price not above zero or finer than the currency allows is
    400; another vehicle than the lead was won with, or a vehicle someone owns, 409; an
    unknown buyer 422."""
    try:
        lead = LeadService(app).convert(caller, lead_id, Sale(**body.model_dump()))
    except UnknownLead as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except LeadError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    except UnknownCustomer as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return lead.as_json()


@router.get("/dealers/nearest", responses=problems(401, 404, 422, 503))
def nearest_dealer(
    caller: CallerDep,
    app: AppDep,
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    market: Annotated[str, Query(pattern=MARKET)],
    datum: Datum = Datum.WGS84,
) -> dict[str, Any]:
    """The nearest active dealer of ``market`` to a point (in any datum); 422 for a point
    with no WGS-84 equivalent (a BD-09 point at the south pole or the antimeridian)."""
    try:
        nearest = LeadService(app).nearest_dealer(caller, market, Point(lat, lon, datum))
    except NoEquivalent as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    if nearest is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no active dealer of {market} has a location"
        )
    return nearest.as_json()


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
