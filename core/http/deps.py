"""Dependencies route handlers share: the application, the caller, a database session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from regiocrm.crm.access import Scope, scope_of
from regiocrm.crm.accounts import authenticate
from regiocrm.models import User
from regiocrm.platform.stores import ZonedSession
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller

bearer = HTTPBearer(auto_error=False, description="an API token from `regiocrm users add`")


def services(request: Request) -> Application:
    """The application the routes call services of (:mod:`regiocrm.services`)."""
    result: Application = request.app.state.services
    return result


def caller(
    app: Annotated[Application, Depends(services)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The user whose bearer token the request carries, with their scope; 401 otherwise."""
    found = app.authenticate(credentials.credentials) if credentials else None
    if found is None:
        raise _unauthenticated()
    return found


def _unauthenticated() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="a valid bearer token is required",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _transaction(svc: Annotated[Application, Depends(services)]) -> Iterator[ZonedSession]:
    with svc.stores.session() as session:
        yield session


def db_session(
    session: Annotated[ZonedSession, Depends(_transaction, scope="function")],
) -> ZonedSession:
    """A session over every zone, committed when the route returns and before its answer
    is sent, rolled back when it raises.

    A commit that fails is then the request's error (503 for an unreachable or busy
    database, 500 otherwise) instead of a success already on its way to the caller. The
    ``function`` scope is declared here, once, on the transaction this returns: however a
    route or another dependency depends on ``db_session``, it shares that transaction.
    """
    return session


def current_user(
    session: Annotated[ZonedSession, Depends(db_session)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    """The user whose bearer token the request carries; 401 otherwise."""
    user = authenticate(session, credentials.credentials) if credentials else None
    if user is None:
        raise _unauthenticated()
    return user


def caller_scope(
    session: Annotated[ZonedSession, Depends(db_session)],
    user: Annotated[User, Depends(current_user)],
) -> Scope:
    """What the caller may see (:mod:`regiocrm.crm.access`)."""
    return scope_of(session, user)


CurrentUser = Annotated[User, Depends(current_user)]
Svc = Annotated[Application, Depends(services)]
DbSession = Annotated[ZonedSession, Depends(db_session)]
Viewer = Annotated[Scope, Depends(caller_scope)]
AppDep = Annotated[Application, Depends(services)]
CallerDep = Annotated[Caller, Depends(caller)]
