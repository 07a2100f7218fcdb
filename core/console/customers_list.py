"""``/customers``: the customers a user sees, a page at a time, found by a phone number or a
channel id; each links to the customer's own page (``/customers/{id}``).

The listing and the search are :class:`~regiocrm.services.customers.CustomerService`'s,
scoped to the caller and audited there. A search the service cannot read (a phone number
that is no number) comes back with the reason beside the field and what was typed.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import HTMLResponse

from regiocrm.console.pages import not_found, render
from regiocrm.console.sessions import VisitDep
from regiocrm.console.speaking import in_language, not_for_you
from regiocrm.console.words import channel_label, status_label
from regiocrm.crm.access import Forbidden
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import AppDep
from regiocrm.interfaces.channels import IdentityRef
from regiocrm.interfaces.identities import InvalidIdentity
from regiocrm.platform.i18n import _
from regiocrm.services.application import Application
from regiocrm.services.customer_views import CustomerView
from regiocrm.services.customers import CustomerService

router = APIRouter(include_in_schema=False)

PAGE_LENGTH = 50
LONGEST_IDENTITY = 200


def identity_kinds(app: Application) -> list[str]:
    """What a customer can be searched by: a phone number, then every identity kind an
    installed channel reports."""
    kinds = {kind for channel in app.hooks.channels().values() for kind in channel.identity_kinds}
    return ["phone", *sorted(kinds - {"phone"})]


@router.get("/customers")
def customers(
    request: Request,
    app: AppDep,
    signed: VisitDep,
    kind: Annotated[str, Query(max_length=40)] = "phone",
    value: Annotated[str, Query(max_length=LONGEST_IDENTITY)] = "",
    after: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    """The caller's customers by id, ``after`` the one a previous page ended with; with a
    ``value``, the customer whose identity of ``kind`` it is."""
    kinds = identity_kinds(app)
    service = CustomerService(app)
    errors: dict[str, str] = {}
    found: list[CustomerView] = []
    next_after: uuid.UUID | None = None
    try:
        if kind not in kinds:
            errors["kind"] = _("Choose what to search by from the list.")
        elif value.strip():
            try:
                with in_language(signed.reader, request):
                    found = service.find(
                        signed.caller, IdentityRef(kind, value.strip()), signed.visitor.market
                    )
            except InvalidIdentity as refused:
                errors["value"] = str(refused)
        else:
            try:
                start = uuid.UUID(after) if after else None
            except ValueError:
                raise not_found(signed.reader, request) from None
            page = service.page(signed.caller, after=start, limit=PAGE_LENGTH)
            found, next_after = page.items, page.next
    except Forbidden:
        return not_for_you(signed.reader, request)
    return render(
        signed.reader,
        request,
        "customers_list.html",
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK,
        customers=found,
        searched=bool(value.strip()) and not errors,
        kinds=kinds,
        kind=kind,
        value=value,
        next_after=next_after,
        errors=errors,
        status_label=status_label,
        channel_label=channel_label,
    )


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
