"""Who is signed in to the console: the session and CSRF cookies, and the dependencies a page
declares to be read (:data:`VisitDep`) or posted to (:data:`PostedDep`) by a signed-in user.

A session lives in two cookies, both HttpOnly and SameSite=Lax, and Secure when the console
is served over HTTPS: the session token, and the CSRF token the server puts into every form
it renders. A form posted back must carry that token in its ``csrf_token`` field, which a
page of another site cannot read; the service keeps only the two tokens' digests
(:mod:`regiocrm.services.signin`).

A request without a live session is sent to ``/login``, which brings the user back to the
page they asked for once they have signed in; htmx's own requests are told so in the
``HX-Redirect`` header, so the whole page goes, not a fragment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Form, Request, Response, status
from fastapi.responses import RedirectResponse

from regiocrm.console.pages import Reader, reader_of, render
from regiocrm.http.deps import AppDep
from regiocrm.http.problems import AnswerInstead
from regiocrm.platform.i18n import _
from regiocrm.services.callers import Caller
from regiocrm.services.signin import SignInService, Visitor

SESSION_COOKIE = "regiocrm_session"
CSRF_COOKIE = "regiocrm_csrf"


@dataclass(frozen=True)
class Visit:
    """A request of a signed-in user: who they are, their session, and the page's reader."""

    visitor: Visitor
    session_token: str
    reader: Reader

    @property
    def caller(self) -> Caller:
        return self.visitor.caller


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site (``/inbox?unread=1``), else ``None``: a
    sign-in never sends a user to another site."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    return target


def to_sign_in(request: Request) -> Response:
    """Send the browser to ``/login``, to come back to this page (for a form's post, the page
    it was posted from) once signed in."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        referer = request.headers.get("referer", "")
        origin = f"{request.url.scheme}://{request.url.netloc}"
        here = referer.removeprefix(origin) if referer.startswith(f"{origin}/") else "/"
    target = "/login?" + urlencode({"next": safe_next(here) or "/"})
    if request.headers.get("hx-request") == "true":
        return Response(status_code=status.HTTP_401_UNAUTHORIZED, headers={"HX-Redirect": target})
    return RedirectResponse(target, status.HTTP_303_SEE_OTHER)


def visit(request: Request, app: AppDep) -> Visit:
    """The signed-in user a page is for; without a live session, the browser goes to sign
    in."""
    token = request.cookies.get(SESSION_COOKIE)
    visitor = SignInService(app).visitor(token) if token else None
    if token is None or visitor is None:
        raise AnswerInstead(to_sign_in(request))
    csrf_token = request.cookies.get(CSRF_COOKIE, "")
    return Visit(visitor, token, reader_of(request, visitor, csrf_token))


VisitDep = Annotated[Visit, Depends(visit)]


def posted(
    request: Request,
    app: AppDep,
    signed: VisitDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Visit:
    """A form posted by the signed-in user, with the CSRF token their session was given;
    any other post is refused (403) and does nothing."""
    if not csrf_token or not SignInService(app).check_csrf(signed.session_token, csrf_token):
        raise AnswerInstead(
            render(
                signed.reader,
                request,
                "refused.html",
                status_code=status.HTTP_403_FORBIDDEN,
                reason=_("This form has expired. Reload the page and try again."),
            )
        )
    return signed


PostedDep = Annotated[Visit, Depends(posted)]


def set_session_cookies(
    response: Response, request: Request, session_token: str, csrf_token: str, max_age: int
) -> None:
    for name, value in ((SESSION_COOKIE, session_token), (CSRF_COOKIE, csrf_token)):
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )


def clear_session_cookies(response: Response) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, httponly=True, samesite="lax")
