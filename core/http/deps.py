"""Dependencies route handlers share: the application and the caller.

A route (a plugin's too) works through the services of :mod:`regiocrm.services`, or, for
an entity of its own, within ``app.transaction()``, which commits before the route returns:
its answer is sent only once the write is kept."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found


AppDep = Annotated[Application, Depends(services)]
CallerDep = Annotated[Caller, Depends(caller)]
