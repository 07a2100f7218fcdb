"""The dealers' leads, mobile first: ``/leads``, their work list, overdue first, each lead with
its customer's number to call and the channel they came from; ``/leads/{id}``, one lead to
move on (contacted, qualified, lost with the reason) or win with the sale of a vehicle.

Every read and step goes through :class:`~regiocrm.services.leads.LeadService`, which scopes
it to the caller and audits it: a lead out of the caller's scope is the 404 page. A form
with bad input comes back with the reason beside the field and what was typed, and nothing
is stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated
from zoneinfo import ZoneInfo

from babel.numbers import NumberFormatError, parse_decimal
from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from regiocrm.console.pages import Reader, not_found, render
from regiocrm.console.sessions import PostedDep, VisitDep
from regiocrm.console.speaking import in_language, not_for_you
from regiocrm.console.words import channel_label, status_label
from regiocrm.crm.access import Forbidden
from regiocrm.crm.customers import UnknownCustomer
from regiocrm.crm.lead_lifecycle import LeadError, Sale, UnknownLead
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import AppDep
from regiocrm.http.problems import AnswerInstead
from regiocrm.interfaces.terms import LeadStatus
from regiocrm.platform.i18n import _
from regiocrm.services.callers import Caller
from regiocrm.services.leads import LeadAtHand, LeadService

router = APIRouter(include_in_schema=False)

# A phone shows this many at once; the overdue and the soonest due come first.
WORK_LIST_LENGTH = 100
# The steps the status form takes; ``won`` is the sale form's.
MOVES = (LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.LOST)
LONGEST_TEXT = 500
LONGEST_VEHICLE = 60


@router.get("/leads")
def work_list(
    request: Request,
    app: AppDep,
    signed: VisitDep,
    status_: Annotated[str, Query(alias="status", max_length=20)] = "",
) -> HTMLResponse:
    """The caller's leads, overdue first, filtered by status."""
    chosen: LeadStatus | None = None
    errors: dict[str, str] = {}
    if status_:
        try:
            chosen = LeadStatus(status_)
        except ValueError:
            errors["status"] = _("Choose a status from the list.")
    leads: list[LeadAtHand] = []
    if not errors:
        try:
            leads = LeadService(app).worklist(signed.caller, status=chosen, limit=WORK_LIST_LENGTH)
        except Forbidden:
            return not_for_you(signed.reader, request)
    return render(
        signed.reader,
        request,
        "leads.html",
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK,
        leads=leads,
        chosen=status_,
        statuses=[value.value for value in LeadStatus],
        errors=errors,
        now=datetime.now(UTC),
        status_label=status_label,
        channel_label=channel_label,
    )


@router.get("/leads/{lead_id}")
def lead_page(request: Request, app: AppDep, signed: VisitDep, lead_id: str) -> HTMLResponse:
    """One lead, with the forms of the steps it may take."""
    at_hand = _at_hand(request, app, signed.reader, signed.caller, lead_id)
    return _lead(request, signed.reader, at_hand)


@router.post("/leads/{lead_id}/status")
def move_lead(
    request: Request,
    app: AppDep,
    signed: PostedDep,
    lead_id: str,
    to: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Mark a lead contacted, qualified, or lost with the reason."""
    at_hand = _at_hand(request, app, signed.reader, signed.caller, lead_id)
    typed = {"to": to, "reason": reason}
    step = next((move for move in MOVES if move.value == to), None)
    if step is None:
        errors = {"": _("Choose one of the steps offered.")}
        return _lead(request, signed.reader, at_hand, form="", errors=errors, typed=typed)
    if len(reason) > LONGEST_TEXT:
        errors = {"reason": _("Write at most {n} characters.").format(n=LONGEST_TEXT)}
        return _lead(request, signed.reader, at_hand, form=to, errors=errors, typed=typed)
    try:
        with in_language(signed.reader, request):
            LeadService(app).transition(signed.caller, at_hand.lead.id, step, reason=reason)
    except UnknownLead:
        raise not_found(signed.reader, request) from None
    except LeadError as refused:
        errors = {refused.field or "": str(refused)}
        return _lead(request, signed.reader, at_hand, form=to, errors=errors, typed=typed)
    return RedirectResponse(f"/leads/{at_hand.lead.id}", status.HTTP_303_SEE_OTHER)


@router.post("/leads/{lead_id}/sale")
def win_lead(
    request: Request,
    app: AppDep,
    signed: PostedDep,
    lead_id: str,
    vin: Annotated[str, Form()] = "",
    model: Annotated[str, Form()] = "",
    price: Annotated[str, Form()] = "",
    started_on: Annotated[str, Form()] = "",
) -> Response:
    """Win a qualified lead with the sale of a vehicle: its VIN and model, the price in the
    market's currency and the day."""
    at_hand = _at_hand(request, app, signed.reader, signed.caller, lead_id)
    typed = {"vin": vin, "model": model, "price": price, "started_on": started_on}
    errors, amount, day = _read_sale(signed.reader, typed)
    if errors or amount is None or day is None:
        return _lead(request, signed.reader, at_hand, form="won", errors=errors, typed=typed)
    sale = Sale(vin=vin, started_on=day, model=model.strip() or None, price=amount)
    try:
        with in_language(signed.reader, request):
            LeadService(app).convert(signed.caller, at_hand.lead.id, sale)
    except UnknownLead:
        raise not_found(signed.reader, request) from None
    except LeadError as refused:
        errors = {_SALE_FIELDS.get(refused.field or "", ""): str(refused)}
        return _lead(request, signed.reader, at_hand, form="won", errors=errors, typed=typed)
    except UnknownCustomer:
        errors = {"": _("The buyer is not one of your customers.")}
        return _lead(request, signed.reader, at_hand, form="won", errors=errors, typed=typed)
    return RedirectResponse(f"/leads/{at_hand.lead.id}", status.HTTP_303_SEE_OTHER)


# The fields of the sale form a refusal of the domain is shown beside; others go above it.
_SALE_FIELDS = {"vin": "vin", "price": "price", "started_on": "started_on"}


def _read_sale(
    reader: Reader, typed: Mapping[str, str]
) -> tuple[dict[str, str], Decimal | None, date | None]:
    """The price and day of the sale form as typed, or the reason beside each field that
    cannot be read; what the values mean is the domain's to judge."""
    errors: dict[str, str] = {}
    amount = day = None
    if not typed["price"].strip():
        errors["price"] = _("Enter the price the customer paid.")
    else:
        try:
            amount = parse_decimal(typed["price"].strip(), locale=reader.locale, strict=True)
        except NumberFormatError:
            errors["price"] = _("Enter the price as a number, such as 189000 or 189000.50.")
    try:
        day = date.fromisoformat(typed["started_on"].strip())
    except ValueError:
        errors["started_on"] = _("Enter the day of the sale as a date, such as 2026-03-09.")
    if len(typed["model"]) > LONGEST_VEHICLE:
        errors["model"] = _("Write at most {n} characters.").format(n=LONGEST_VEHICLE)
    if len(typed["vin"]) > LONGEST_TEXT:
        errors["vin"] = _("Write at most {n} characters.").format(n=LONGEST_TEXT)
    return errors, amount, day


def _at_hand(
    request: Request, app: AppDep, reader: Reader, caller: Caller, lead_id: str
) -> LeadAtHand:
    """The lead the path names, if the caller sees it; else the 404 page (a malformed id
    names no lead either)."""
    try:
        return LeadService(app).at_hand(caller, uuid.UUID(lead_id))
    except (ValueError, UnknownLead):
        raise not_found(reader, request) from None
    except Forbidden:
        raise AnswerInstead(not_for_you(reader, request)) from None


def _lead(
    request: Request,
    reader: Reader,
    at_hand: LeadAtHand,
    *,
    form: str = "",
    errors: Mapping[str, str] | None = None,
    typed: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The lead's page; with ``errors``, the form ``form`` again as it was typed, each
    reason beside its field (``""``: above the form)."""
    today = datetime.now(ZoneInfo(reader.formats.timezone)).date()
    return render(
        reader,
        request,
        "lead.html",
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK,
        item=at_hand,
        form=form,
        errors=errors or {},
        typed=typed or {},
        today=today.isoformat(),
        status_label=status_label,
        channel_label=channel_label,
    )


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
