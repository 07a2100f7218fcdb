"""``/inbox``: a call-centre agent's conversations across every channel, newest first, with
what they do to one (take it, mark it read) a form's post away.

The list is live where JavaScript runs: htmx asks ``/inbox/rows`` every few seconds whether
anything the agent sees changed since the list was drawn (one cheap service call that reads
nothing personal) and is answered 204, leaving the page as it is, until something did; then
it gets the rows again, drawn by the same template as the page, with the same filters. The
filters are a form's GET query, so the page reads the same without JavaScript.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from regiocrm.console.pages import Reader, not_found, render
from regiocrm.console.sessions import PostedDep, Visit, VisitDep, safe_next
from regiocrm.console.words import channel_label
from regiocrm.crm.access import Forbidden
from regiocrm.crm.conversations import ConversationError, UnknownConversation
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import AppDep
from regiocrm.http.problems import AnswerInstead
from regiocrm.platform.i18n import _
from regiocrm.services.application import Application
from regiocrm.services.conversations import BadCursor, ConversationPage, ConversationService

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
# Whose conversations the list shows: everyone's, the reader's own, or nobody's yet.
WHOSE = ("", "mine", "unassigned")


@dataclass(frozen=True)
class Filters:
    """What the reader asked the list to show, as the filter form's GET query carries it."""

    unread: bool = False
    whose: str = ""
    channel: str = ""

    def query(self, **more: str) -> str:
        """The query string that asks for these filters again (and ``more``)."""
        asked = {"unread": "1" if self.unread else "", "whose": self.whose, "channel": self.channel}
        return urlencode({name: value for name, value in {**asked, **more}.items() if value})

    def problems(self, channels: dict[str, str]) -> dict[str, str]:
        """The reason beside each field holding a value the form does not offer."""
        found = {}
        if self.whose not in WHOSE:
            found["whose"] = _("Choose whose conversations to show from the list.")
        if self.channel and self.channel not in channels:
            found["channel"] = _("Choose a channel from the list.")
        return found


def _filters(unread: str, whose: str, channel: str) -> Filters:
    return Filters(unread=unread not in ("", "0"), whose=whose, channel=channel)


def _channels(app: Application) -> dict[str, str]:
    """The registered channels a conversation can be on, each with its written name."""
    return {name: channel_label(name) for name in sorted(app.hooks.channels())}


# The ``since`` of a list drawn while the reader saw no conversation at all.
NOTHING_YET = "-"
# How long before it is drawn a page's list asks for changes from (see :func:`inbox`).
SETTLING = timedelta(seconds=5)


def _stamp(moment: datetime | None) -> str:
    """``moment`` as the rows fragment's ``since`` carries it (UTC, ISO 8601)."""
    if moment is None:
        return NOTHING_YET
    return _aware(moment).astimezone(UTC).isoformat()


def _unchanged(latest: datetime | None, since: str | None) -> bool:
    """Whether nothing the reader sees changed after ``since`` (a :func:`_stamp`), given
    when it last did (``None``: they see no conversation); without a ``since``, or with
    one that is no :func:`_stamp`, the rows are drawn regardless."""
    if since is None:
        return False
    if latest is None:
        return True
    if since == NOTHING_YET:
        return False
    try:
        seen = datetime.fromisoformat(since)
    except ValueError:
        return False
    return seen.tzinfo is not None and _aware(latest) <= seen


def _aware(moment: datetime) -> datetime:
    # SQLite hands back the naive UTC times PostgreSQL hands back aware.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _refused(reader: Reader, request: Request) -> AnswerInstead:
    return AnswerInstead(
        render(
            reader,
            request,
            "refused.html",
            status_code=status.HTTP_403_FORBIDDEN,
            reason=_("Your role does not work with customers' conversations."),
        )
    )


def _listing(
    app: Application, signed: Visit, request: Request, filters: Filters, after: str | None
) -> ConversationPage:
    """A page of the reader's conversations."""
    try:
        return ConversationService(app).inbox(
            signed.caller,
            unread_only=filters.unread,
            mine=filters.whose == "mine",
            unassigned=filters.whose == "unassigned",
            channel=filters.channel or None,
            after=after,
            limit=PAGE_SIZE,
        )
    except Forbidden:
        raise _refused(signed.reader, request) from None


@router.get("/inbox")
def inbox(
    request: Request,
    app: AppDep,
    signed: VisitDep,
    unread: str = "",
    whose: str = "",
    channel: str = "",
    after: str | None = None,
) -> HTMLResponse:
    """The reader's conversations, newest first, a page at a time."""
    filters = _filters(unread, whose, channel)
    channels = _channels(app)
    context: dict[str, Any] = {"filters": filters, "channels": channels, "page": None, "since": ""}
    errors = filters.problems(channels)
    if errors:
        return render(
            signed.reader,
            request,
            "inbox.html",
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            errors=errors,
            **context,
        )
    # Drawn now, the list asks from a little earlier: a message still being committed as
    # it is read shows at the first poll. (Asking the database when the reader's
    # conversations last changed would cost the page as much again as the listing.)
    since = _stamp(datetime.now(UTC) - SETTLING)
    try:
        page = _listing(app, signed, request, filters, after)
    except BadCursor as refused:
        return render(
            signed.reader,
            request,
            "inbox.html",
            status_code=status.HTTP_400_BAD_REQUEST,
            errors={"after": str(refused)},
            **context,
        )
    # Only the first page is live: a later one would jump as new conversations arrive.
    return render(
        signed.reader,
        request,
        "inbox.html",
        errors={},
        **{**context, "page": page, "since": since if after is None else ""},
    )


@router.get("/inbox/rows")
def inbox_rows(
    request: Request,
    app: AppDep,
    signed: VisitDep,
    unread: str = "",
    whose: str = "",
    channel: str = "",
    since: str | None = None,
) -> Response:
    """The first page's rows alone, for htmx to swap in; 204 while nothing the reader sees
    changed after ``since``."""
    filters = _filters(unread, whose, channel)
    channels = _channels(app)
    if filters.problems(channels):
        return Response(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    try:
        latest = ConversationService(app).latest(signed.caller)
    except Forbidden:
        raise _refused(signed.reader, request) from None
    if _unchanged(latest, since):
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    # The rows read after ``latest``: a change in between is drawn, and asked about again.
    page = _listing(app, signed, request, filters, None)
    return render(
        signed.reader,
        request,
        "_inbox_rows.html",
        filters=filters,
        channels=channels,
        page=page,
        since=_stamp(latest),
    )


def _back(next_page: str) -> Response:
    """Back to the list the form was posted from, its filters kept (post/redirect/get)."""
    return RedirectResponse(safe_next(next_page) or "/inbox", status.HTTP_303_SEE_OTHER)


@contextmanager
def _on_a_conversation(signed: Visit, request: Request) -> Iterator[None]:
    """Answer what the service refuses of a conversation as the console does: one out of
    the reader's scope is the 404 page, a role that handles none the refusal page."""
    try:
        yield
    except UnknownConversation:
        raise not_found(signed.reader, request) from None
    except Forbidden:
        raise _refused(signed.reader, request) from None


@router.post("/inbox/{conversation_id}/take")
def take(
    conversation_id: uuid.UUID,
    request: Request,
    app: AppDep,
    signed: PostedDep,
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The reader takes the conversation: it is theirs to answer."""
    with _on_a_conversation(signed, request):
        try:
            ConversationService(app).assign(signed.caller, conversation_id)
        except UnknownConversation:
            raise
        except ConversationError as refused:
            return render(
                signed.reader,
                request,
                "refused.html",
                status_code=status.HTTP_400_BAD_REQUEST,
                reason=str(refused),
            )
    return _back(next)


@router.post("/inbox/{conversation_id}/read")
def mark_read(
    conversation_id: uuid.UUID,
    request: Request,
    app: AppDep,
    signed: PostedDep,
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The reader read the conversation: nothing in it is unread any more."""
    with _on_a_conversation(signed, request):
        ConversationService(app).mark_read(signed.caller, conversation_id)
    return _back(next)


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
