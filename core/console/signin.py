"""Signing in and out of the console, the home page that sends each role to its work, and the
language a user chooses.

The sign-in form is protected from being posted by another site (login CSRF) by a token of
its own, set in a cookie when the form is shown and sent back in the form, since there is no
session yet whose CSRF token it could carry.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from regiocrm.console.pages import home_of, reader_of, render
from regiocrm.console.sessions import (
    PostedDep,
    VisitDep,
    clear_session_cookies,
    safe_next,
    set_session_cookies,
)
from regiocrm.crm.accounts import AccountError
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import AppDep
from regiocrm.platform.i18n import _
from regiocrm.services.directory import DirectoryService
from regiocrm.services.signin import SignInRefused, SignInService, TooManyAttempts

LOGIN_COOKIE = "regiocrm_login"

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(signed: VisitDep) -> RedirectResponse:
    return RedirectResponse(home_of(signed.caller.role), status.HTTP_303_SEE_OTHER)


def _login_page(
    request: Request,
    *,
    next_page: str | None,
    username: str = "",
    error: str | None = None,
    status_code: int = status.HTTP_200_OK,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    login_token = secrets.token_urlsafe(32)
    response = render(
        reader_of(request, None),
        request,
        "login.html",
        status_code=status_code,
        headers=headers,
        next_page=safe_next(next_page) or "",
        username=username,
        error=error,
        login_token=login_token,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        login_token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return _login_page(request, next_page=next)


@router.post("/login")
def log_in(
    request: Request,
    app: AppDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
    login_token: Annotated[str, Form()] = "",
) -> Response:
    """Open a session for a user whose password matches, and go where they were going."""
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), login_token.encode()):
        return _login_page(
            request,
            next_page=next,
            username=username,
            error=_("This form has expired. Please sign in again."),
            status_code=status.HTTP_400_BAD_REQUEST,
        )
    if not username or not password:
        return _login_page(
            request,
            next_page=next,
            username=username,
            error=_("Enter your user name and password."),
            status_code=status.HTTP_400_BAD_REQUEST,
        )
    address = request.client.host if request.client else "unknown"
    try:
        signed = SignInService(app).sign_in(username, password, address=address)
    except TooManyAttempts as refused:
        return _login_page(
            request,
            next_page=next,
            username=username,
            error=str(refused),
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(refused.retry_after)},
        )
    except SignInRefused as refused:
        return _login_page(
            request,
            next_page=next,
            username=username,
            error=str(refused),
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    target = safe_next(next) or home_of(signed.caller.role)
    response = RedirectResponse(target, status.HTTP_303_SEE_OTHER)
    max_age = app.settings.console.session_hours * 3600
    set_session_cookies(response, request, signed.session_token, signed.csrf_token, max_age)
    response.delete_cookie(LOGIN_COOKIE, httponly=True, samesite="lax")
    return response


@router.post("/logout")
def log_out(app: AppDep, signed: PostedDep) -> RedirectResponse:
    SignInService(app).sign_out(signed.session_token)
    response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    clear_session_cookies(response)
    return response


@router.post("/language")
def choose_language(
    request: Request,
    app: AppDep,
    signed: PostedDep,
    locale: Annotated[str, Form(max_length=35)] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Show the console in the language chosen from now on; an empty choice goes back to
    the browser's."""
    try:
        DirectoryService(app).set_language(signed.caller, locale or None)
    except AccountError as refused:
        return render(
            signed.reader,
            request,
            "refused.html",
            status_code=status.HTTP_400_BAD_REQUEST,
            reason=str(refused),
        )
    return RedirectResponse(safe_next(next) or "/", status.HTTP_303_SEE_OTHER)


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
