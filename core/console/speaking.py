"""What page modules share when they ask a service for something: its refusals worded in
the reader's language, and the page for a role the service refuses outright."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request, status
from fastapi.responses import HTMLResponse

from regiocrm.console.pages import Reader, render
from regiocrm.http.deps import services
from regiocrm.platform import i18n
from regiocrm.platform.i18n import _


@contextmanager
def in_language(reader: Reader, request: Request) -> Iterator[None]:
    """Word what a service refuses inside the block in ``reader``'s language: the domain
    words its refusals with ``_()`` as it raises them, in English for the API."""
    with i18n.use_locale(reader.locale, services(request).hooks.catalog_folders().values()):
        yield


def not_for_you(reader: Reader, request: Request) -> HTMLResponse:
    """The page for a role that may not do what the page does (the API's 403)."""
    return render(
        reader,
        request,
        "refused.html",
        status_code=status.HTTP_403_FORBIDDEN,
        reason=_("Your role does not give you this page."),
    )
