"""``/audit``: the audit trail for partner auditors and the region, filtered, paged and
exported as a spreadsheet.

The page shows what :meth:`AuditService.read <regiocrm.services.audit.AuditService.read>`
returns, as ``GET /api/audit`` does: personal values arrive masked for a reader who reads
no customer data, and the console has nothing to unmask them with. A period is chosen in
whole days of the reader's market's time zone, the last day included.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response

from regiocrm.console.pages import Reader, not_found, render
from regiocrm.console.sessions import VisitDep
from regiocrm.crm.access import Forbidden
from regiocrm.crm.accounts import UnknownOrganization
from regiocrm.crm.audit import MASKED, TrailEntry, TrailFilter, write_csv
from regiocrm.hookspecs import hookimpl
from regiocrm.http import paging
from regiocrm.http.deps import AppDep
from regiocrm.platform.i18n import _
from regiocrm.services.audit import AuditService, OrganizationView, PeriodError, TrailPage

router = APIRouter(include_in_schema=False)

PAGE_SIZE = paging.PAGE_DEFAULT
# The period a first visit shows: the last thirty days, today included.
DEFAULT_DAYS = 30
# What a filter may hold: the longest action, user name or subject type the API accepts.
FILTER_LENGTH = {"action": 100, "actor": 200, "subject_type": 100}
# Excel takes a CSV file for UTF-8 only when it starts with the byte order mark; without
# it Chinese, Japanese and Korean names come out garbled.
BOM = "\ufeff"


@dataclass(frozen=True)
class TrailForm:
    """The filter form as the user filled it in, kept as typed to show it again."""

    org: str = ""
    start: str = ""
    end: str = ""
    action: str = ""
    actor: str = ""
    subject_type: str = ""

    def link(self, path: str = "/audit", cursor: str | None = None) -> str:
        """``path`` with this form's filters (and ``cursor``) in its query."""
        names = {"start": "from", "end": "to"}
        query = {names.get(key, key): value for key, value in asdict(self).items()}
        if cursor:
            query["cursor"] = cursor
        return f"{path}?{urlencode(query)}"


@dataclass(frozen=True)
class TrailRequest:
    """What the form asks for, checked: whose trail, the period and the filters."""

    organization: uuid.UUID
    first: date
    last: date
    zone: ZoneInfo
    only: TrailFilter

    @property
    def since(self) -> datetime:
        """The period's start: the first day's midnight."""
        return datetime.combine(self.first, time(), tzinfo=self.zone)

    @property
    def until(self) -> datetime:
        """The period's end (exclusive): the midnight after the last day."""
        return datetime.combine(self.last + timedelta(days=1), time(), tzinfo=self.zone)


@dataclass
class Checked:
    """The form checked: the request, or the reason beside each field that is wrong."""

    request: TrailRequest | None = None
    errors: dict[str, str] = field(default_factory=dict)
    status_code: int = status.HTTP_200_OK


def _today(reader: Reader) -> date:
    return datetime.now(ZoneInfo(reader.formats.timezone)).date()


def _filled(form: TrailForm, reader: Reader) -> TrailForm:
    """The form with the default period where the user gave none."""
    today = _today(reader)
    return TrailForm(
        org=form.org,
        start=form.start or (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
        end=form.end or today.isoformat(),
        action=form.action,
        actor=form.actor,
        subject_type=form.subject_type,
    )


def _day(value: str, errors: dict[str, str], name: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[name] = _("{value} is not a date: write it as YYYY-MM-DD").format(value=value)
        return None


def check(form: TrailForm, reader: Reader) -> Checked:
    """The trail ``form`` asks for, its days turned into the period they cover in the
    reader's time zone; or why it cannot be read (422), nothing asked of the service yet."""
    errors: dict[str, str] = {}
    organization = None
    try:
        organization = uuid.UUID(form.org)
    except ValueError:
        errors["org"] = _("Choose an organization from the list.")
    first = _day(form.start, errors, "start")
    last = _day(form.end, errors, "end")
    for name, longest in FILTER_LENGTH.items():
        if len(getattr(form, name)) > longest:
            errors[name] = _("Write at most {count} characters.").format(count=longest)
    if errors or organization is None or first is None or last is None:
        return Checked(errors=errors, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    return Checked(
        TrailRequest(
            organization,
            first,
            last,
            ZoneInfo(reader.formats.timezone),
            TrailFilter(
                action=form.action.strip() or None,
                actor=form.actor.strip() or None,
                subject_type=form.subject_type.strip() or None,
            ),
        )
    )


def _backwards(asked: TrailRequest, reader: Reader) -> Checked:
    """The service's refusal of a period that ends before it starts, beside its end."""
    reason = _("{end} is before {start}: the date range is backwards").format(
        end=reader.formats.day(asked.last), start=reader.formats.day(asked.first)
    )
    return Checked(errors={"end": reason}, status_code=status.HTTP_400_BAD_REQUEST)


def _refused(reader: Reader, request: Request, reason: str, code: int) -> HTMLResponse:
    return render(reader, request, "refused.html", status_code=code, reason=reason)


def _not_an_auditor(reader: Reader, request: Request) -> HTMLResponse:
    reason = _("Your role does not read the audit trail.")
    return _refused(reader, request, reason, status.HTTP_403_FORBIDDEN)


def _page(
    reader: Reader,
    request: Request,
    form: TrailForm,
    organizations: list[OrganizationView],
    *,
    checked: Checked | None = None,
    page: TrailPage | None = None,
    cursor: str | None = None,
) -> HTMLResponse:
    checked = checked or Checked()
    next_link = None
    if page is not None and page.next is not None:
        next_link = form.link(cursor=paging.encode_moment(*page.next))
    return render(
        reader,
        request,
        "audit.html",
        status_code=checked.status_code,
        form=form,
        errors=checked.errors,
        organizations=organizations,
        page=page,
        masked=MASKED,
        first_link=form.link() if cursor else None,
        next_link=next_link,
    )


FormQuery = Annotated[str, Query()]


def _typed(
    org: FormQuery = "",
    start: Annotated[str, Query(alias="from")] = "",
    end: Annotated[str, Query(alias="to")] = "",
    action: FormQuery = "",
    actor: FormQuery = "",
    subject_type: FormQuery = "",
) -> TrailForm:
    """The filter form as its GET query carries it, for the page and for its export."""
    return TrailForm(org, start, end, action, actor, subject_type)


TypedForm = Annotated[TrailForm, Depends(_typed)]


@router.get("/audit")
def trail_page(
    request: Request,
    app: AppDep,
    signed: VisitDep,
    typed: TypedForm,
    cursor: str | None = None,
) -> HTMLResponse:
    """The filter form and, once an organization is chosen, a page of its people's trail,
    oldest first (the reading recorded in the trail, as the API's is)."""
    reader = signed.reader
    try:
        organizations = AuditService(app).organizations(signed.caller)
    except Forbidden:
        return _not_an_auditor(reader, request)
    form = _filled(typed, reader)
    if not typed.org:
        return _page(reader, request, form, organizations)
    checked = check(form, reader)
    if checked.request is None:
        return _page(reader, request, form, organizations, checked=checked)
    try:
        after = paging.decode_moment(cursor)
    except HTTPException:
        return _refused(
            reader,
            request,
            _("This link to a page of the trail was not made by the console: start again."),
            status.HTTP_400_BAD_REQUEST,
        )
    asked = checked.request
    try:
        page = AuditService(app).read(
            signed.caller,
            asked.organization,
            asked.since,
            asked.until,
            after=after,
            only=asked.only,
            limit=PAGE_SIZE,
        )
    except PeriodError:
        return _page(reader, request, form, organizations, checked=_backwards(asked, reader))
    except UnknownOrganization:
        raise not_found(reader, request) from None
    return _page(reader, request, form, organizations, page=page, cursor=cursor)


@router.get("/audit/export", response_model=None)
def export_trail(
    request: Request,
    app: AppDep,
    signed: VisitDep,
    typed: TypedForm,
) -> Response:
    """Every event the page's filters let through, as a CSV file (UTF-8 with a byte order
    mark, one row per event, as ``regiocrm audit export`` writes it) with personal values
    masked; the export is recorded in the trail as the reader's."""
    reader = signed.reader
    try:
        organizations = AuditService(app).organizations(signed.caller)
    except Forbidden:
        return _not_an_auditor(reader, request)
    form = _filled(typed, reader)
    checked = check(form, reader)
    if checked.request is None:
        return _page(reader, request, form, organizations, checked=checked)
    asked = checked.request
    sheet = io.StringIO()
    sheet.write(BOM)

    def write(organization: OrganizationView, entries: Iterator[TrailEntry]) -> int:
        return write_csv(sheet, entries)

    try:
        AuditService(app).export(
            signed.caller, asked.organization, asked.since, asked.until, write, only=asked.only
        )
    except PeriodError:
        return _page(reader, request, form, organizations, checked=_backwards(asked, reader))
    except UnknownOrganization:
        raise not_found(reader, request) from None
    filename = f"audit-trail-{asked.first.isoformat()}-{asked.last.isoformat()}.csv"
    return Response(
        sheet.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
