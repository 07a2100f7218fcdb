"""``/customers/{id}``: the customer's one view, and what an agent or a dealer does on it.

The page shows what :meth:`~regiocrm.services.customers.CustomerService.overview` reads in
one transaction: names in the market's order, identities, consents, vehicles, contracts,
open cases with their clocks, leads and the timeline, newest first, a page at a time. Its
forms reply to the customer, open a case, move one on and confirm a phone number; each
posts back here (post/redirect/get), and a refusal re-renders the page with the reason
beside the field, having stored nothing. htmx swaps the page's ``#customer`` part in place
and loads older timeline entries into the list; without JavaScript the same links and
forms load whole pages.

A customer the caller does not see is the 404 page, as for an id that does not exist; a
record merged into another is shown as the survivor, at the survivor's address.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from regiocrm.console.pages import Reader, not_found, render
from regiocrm.console.sessions import PostedDep, Visit, VisitDep
from regiocrm.console.words import channel_label
from regiocrm.crm.cases import TRANSITIONS, CaseError, NewCase, UnknownCase
from regiocrm.crm.customers import MergeRefused, UnknownCustomer
from regiocrm.hookspecs import hookimpl
from regiocrm.http import paging
from regiocrm.http.deps import AppDep, services
from regiocrm.interfaces.calendars import Service
from regiocrm.interfaces.channels import IdentityRef
from regiocrm.interfaces.identities import InvalidIdentity
from regiocrm.interfaces.packs import PackError
from regiocrm.interfaces.terms import CaseStatus, Priority
from regiocrm.messaging.outbound import NoConsent, NoRoute, NotDelivered
from regiocrm.platform import i18n
from regiocrm.platform.i18n import _
from regiocrm.services.application import Application
from regiocrm.services.cases import CaseService
from regiocrm.services.customers import CustomerOverview, CustomerService

router = APIRouter(include_in_schema=False)

TIMELINE_PAGE = 50
TEXT_MAX = 4096
SUBJECT_MAX = 300
# What a successful post says on the page it returns to (``?done=``).
DONE = ("replied", "case_opened", "case_moved", "phone_confirmed")

Errors = Mapping[str, str]


def _customer_id(value: str, signed: Visit, request: Request) -> uuid.UUID:
    """The id in the address; anything else is a page that does not exist."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise not_found(signed.reader, request) from None


def _overview(
    app: Application, signed: Visit, request: Request, customer_id: uuid.UUID, before: str | None
) -> CustomerOverview:
    try:
        position = paging.decode_moment(before)
    except HTTPException:
        raise not_found(signed.reader, request) from None
    try:
        return CustomerService(app).overview(
            signed.caller, customer_id, before=position, limit=TIMELINE_PAGE
        )
    except UnknownCustomer:
        raise not_found(signed.reader, request) from None


def _older(overview: CustomerOverview) -> str | None:
    """The cursor of the entries older than the page's, if there are any."""
    following = overview.timeline.next
    return None if following is None else paging.encode_moment(*following)


def _page(
    reader: Reader,
    request: Request,
    overview: CustomerOverview,
    *,
    status_code: int = status.HTTP_200_OK,
    errors: Errors | None = None,
    typed: Mapping[str, str] | None = None,
    done: str | None = None,
    before: str | None = None,
) -> HTMLResponse:
    now = datetime.now(UTC)
    return render(
        reader,
        request,
        "customer.html",
        status_code=status_code,
        overview=overview,
        customer=overview.customer,
        older=_older(overview),
        before=before,
        now=now,
        late=_late(now),
        errors=errors or {},
        typed=typed or {},
        done=done if done in DONE else None,
        transitions={state.value: [to.value for to in TRANSITIONS[state]] for state in CaseStatus},
        priorities=[priority.value for priority in Priority],
        services=[service.value for service in Service],
        term=_term,
    )


def _term(value: str) -> str:
    """The word the page shows for one of the CRM's terms (a status, a priority), in the
    language being rendered; a term it does not know as it is."""
    word = _TERMS.get(value)
    return channel_label(value) if word is None else word()


# Each word is translated when the page is rendered, in its reader's language: only the
# words a page shows are looked up.
_TERMS: dict[str, Callable[[], str]] = {
    "crm": lambda: "CRM",
    "case": lambda: _("Case"),
    "lead": lambda: _("Lead"),
    "contract": lambda: _("Contract"),
    "new": lambda: _("New"),
    "assigned": lambda: _("Assigned"),
    "in_progress": lambda: _("In progress"),
    "waiting_customer": lambda: _("Waiting for the customer"),
    "resolved": lambda: _("Resolved"),
    "closed": lambda: _("Closed"),
    "low": lambda: _("Low"),
    "normal": lambda: _("Normal"),
    "high": lambda: _("High"),
    "urgent": lambda: _("Urgent"),
    "office": lambda: _("Office hours"),
    "call_centre": lambda: _("Call centre (around the clock)"),
    "inbound": lambda: _("Received"),
    "outbound": lambda: _("Sent"),
    "internal": lambda: _("Step"),
    "grant": lambda: _("Granted"),
    "withdraw": lambda: _("Withdrawn"),
    "person": lambda: _("Person"),
    "company": lambda: _("Company"),
    "contacted": lambda: _("Contacted"),
    "qualified": lambda: _("Qualified"),
    "won": lambda: _("Won"),
    "lost": lambda: _("Lost"),
    "sales": lambda: _("Sale"),
    "lease": lambda: _("Lease"),
    "financing": lambda: _("Financing"),
    "service": lambda: _("Service"),
    "draft": lambda: _("Draft"),
    "active": lambda: _("Active"),
    "ended": lambda: _("Ended"),
    "cancelled": lambda: _("Cancelled"),
}


@router.get("/customers/{customer_id}", response_model=None)
def customer_page(
    customer_id: str,
    request: Request,
    app: AppDep,
    signed: VisitDep,
    before: str | None = None,
    done: str | None = None,
) -> Response:
    """The customer's one view; with ``before``, their timeline older than it (htmx asks
    for those entries alone, to add them to the list)."""
    wanted = _customer_id(customer_id, signed, request)
    overview = _overview(app, signed, request, wanted, before)
    if overview.customer.id != wanted:
        return RedirectResponse(
            f"/customers/{overview.customer.id}", status.HTTP_307_TEMPORARY_REDIRECT
        )
    if before is not None and request.headers.get("hx-request") == "true":
        return render(
            signed.reader,
            request,
            "_timeline_entries.html",
            customer=overview.customer,
            entries=overview.timeline.items,
            older=_older(overview),
            term=_term,
        )
    return _page(signed.reader, request, overview, done=done, before=before)


def _done(customer_id: uuid.UUID, what: str) -> RedirectResponse:
    return RedirectResponse(f"/customers/{customer_id}?done={what}", status.HTTP_303_SEE_OTHER)


def _refused(
    app: Application,
    signed: Visit,
    request: Request,
    customer_id: uuid.UUID,
    errors: Errors,
    typed: Mapping[str, str],
    status_code: int = status.HTTP_422_UNPROCESSABLE_CONTENT,
) -> HTMLResponse:
    """The page again, with the reasons beside their fields and what the user typed."""
    overview = _overview(app, signed, request, customer_id, None)
    return _page(
        signed.reader, request, overview, status_code=status_code, errors=errors, typed=typed
    )


@router.post("/customers/{customer_id}/reply", response_model=None)
def reply(
    customer_id: str,
    request: Request,
    app: AppDep,
    signed: PostedDep,
    text: Annotated[str, Form()] = "",
    channel: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Send ``text`` to the customer on ``channel`` (default: where they last wrote)."""
    wanted = _customer_id(customer_id, signed, request)
    typed = {"text": text, "channel": channel}
    message = text.strip()
    if not message or len(message) > TEXT_MAX:
        reason = (
            _("Write the message first.")
            if not message
            else _("A message is at most {n} characters.").format(n=TEXT_MAX)
        )
        return _refused(app, signed, request, wanted, {"text": reason}, typed)
    try:
        with _speaking(request, signed.reader):
            CustomerService(app).send_message(
                signed.caller, wanted, message, channel=channel or None, purpose="service"
            )
    except UnknownCustomer:
        raise not_found(signed.reader, request) from None
    except NoConsent as refused:
        reason = _(
            "The customer has not agreed to {purpose} messages on {channel}: nothing was sent."
        ).format(purpose=refused.purpose, channel=refused.channel)
        return _refused(app, signed, request, wanted, {"channel": reason}, typed)
    except NoRoute:
        reason = _(
            "No channel account can reach this customer on {channel}: nothing was sent."
        ).format(channel=channel or _("the channel they last wrote on"))
        return _refused(app, signed, request, wanted, {"channel": reason}, typed)
    except NotDelivered as refused:
        reason = _("The provider refused the message: {reason}").format(reason=str(refused))
        return _refused(
            app, signed, request, wanted, {"text": reason}, typed, status.HTTP_502_BAD_GATEWAY
        )
    return _done(wanted, "replied")


@router.post("/customers/{customer_id}/cases", response_model=None)
def open_case(
    customer_id: str,
    request: Request,
    app: AppDep,
    signed: PostedDep,
    subject: Annotated[str, Form()] = "",
    priority: Annotated[str, Form(max_length=20)] = "",
    service: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Open a case for the customer, on the clock of its priority and service."""
    wanted = _customer_id(customer_id, signed, request)
    typed = {"subject": subject, "priority": priority, "service": service}
    errors: dict[str, str] = {}
    title = subject.strip()
    if not title:
        errors["subject"] = _("Say what the case is about.")
    elif len(title) > SUBJECT_MAX:
        errors["subject"] = _("A subject is at most {n} characters.").format(n=SUBJECT_MAX)
    if priority not in {p.value for p in Priority}:
        errors["priority"] = _("Choose a priority.")
    if service not in {s.value for s in Service}:
        errors["service"] = _("Choose whose clock the case runs on.")
    if errors:
        return _refused(app, signed, request, wanted, errors, typed)
    try:
        customer = CustomerService(app).get(signed.caller, wanted)
        with _speaking(request, signed.reader):
            CaseService(app).open(
                signed.caller,
                NewCase(
                    customer_id=customer.id,
                    market=customer.market,
                    priority=Priority(priority),
                    subject=title,
                    service=Service(service),
                ),
            )
    except UnknownCustomer:
        raise not_found(signed.reader, request) from None
    except (CaseError, PackError) as refused:
        return _refused(app, signed, request, wanted, {"priority": str(refused)}, typed)
    return _done(customer.id, "case_opened")


@router.post("/customers/{customer_id}/cases/{case_id}", response_model=None)
def move_case(
    customer_id: str,
    case_id: str,
    request: Request,
    app: AppDep,
    signed: PostedDep,
    to: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Move one of the customer's cases on to ``to``."""
    wanted = _customer_id(customer_id, signed, request)
    case = _customer_id(case_id, signed, request)
    overview = _overview(app, signed, request, wanted, None)
    if case not in {shown.id for shown in overview.open_cases}:
        # A case of another customer, or one the caller does not see.
        raise not_found(signed.reader, request)
    field = f"case-{case}"
    if to not in {s.value for s in CaseStatus}:
        return _refused(app, signed, request, wanted, {field: _("Choose a next step.")}, {})
    try:
        # Assigning from here assigns to the user who does it.
        assignee = signed.caller.user_id if to == CaseStatus.ASSIGNED.value else None
        CaseService(app).transition(signed.caller, case, CaseStatus(to), assignee_id=assignee)
    except UnknownCase:
        raise not_found(signed.reader, request) from None
    except CaseError as refused:
        return _refused(
            app, signed, request, wanted, {field: str(refused)}, {}, status.HTTP_409_CONFLICT
        )
    return _done(overview.customer.id, "case_moved")


@router.post("/customers/{customer_id}/phone", response_model=None)
def confirm_phone(
    customer_id: str,
    request: Request,
    app: AppDep,
    signed: PostedDep,
    phone: Annotated[str, Form()] = "",
) -> Response:
    """Bind a phone number the customer confirmed; where it is another record of theirs,
    the two are merged and the page goes on at the survivor."""
    wanted = _customer_id(customer_id, signed, request)
    typed = {"phone": phone}
    number = phone.strip()
    if not number or len(number) > 40:
        return _refused(
            app, signed, request, wanted, {"phone": _("Enter the phone number.")}, typed
        )
    try:
        with _speaking(request, signed.reader):
            survivor = CustomerService(app).bind_identity(
                signed.caller, wanted, IdentityRef("phone", number), verified=True
            )
    except UnknownCustomer:
        raise not_found(signed.reader, request) from None
    except InvalidIdentity as refused:
        return _refused(app, signed, request, wanted, {"phone": str(refused)}, typed)
    except MergeRefused:
        reason = _(
            "This number belongs to a customer you may not see: it was not bound and no"
            " records were merged."
        )
        return _refused(
            app, signed, request, wanted, {"phone": reason}, typed, status.HTTP_409_CONFLICT
        )
    return _done(survivor.id, "phone_confirmed")


def _speaking(request: Request, reader: Reader) -> AbstractContextManager[None]:
    """Translate what a service says (a pack's refusal) into the reader's language."""
    return i18n.use_locale(reader.locale, services(request).hooks.catalog_folders().values())


def _late(now: datetime) -> Callable[[datetime | None], bool]:
    """Whether a due time has passed at ``now`` (SQLite hands times back naive, in UTC)."""

    def late(moment: datetime | None) -> bool:
        return moment is not None and moment.replace(tzinfo=moment.tzinfo or UTC) < now

    return late


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
