"""The application factory behind ``regiocrm serve`` and the tests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from regiocrm import __version__
from regiocrm.access import Forbidden
from regiocrm.channels import PROVIDER_TIMEOUT, ChannelRegistry
from regiocrm.geocoding import MapChain
from regiocrm.hooks import Hooks
from regiocrm.http.headers import SecurityHeaders
from regiocrm.http.limits import BodySizeLimit
from regiocrm.inbox import InboxWorker
from regiocrm.leads import DealerLocator
from regiocrm.migrate import Migrator
from regiocrm.replies import InboxPipeline
from regiocrm.residency import ApartError
from regiocrm.settings import RegiocrmSettings
from regiocrm.stores import ZoneStores

log = logging.getLogger(__name__)

# Seconds a client is asked to wait before trying a write again on a busy database.
RETRY_AFTER_UNAVAILABLE = 5


@dataclass
class Services:
    """What request handlers reach through ``request.app.state.services``."""

    settings: RegiocrmSettings
    hooks: Hooks
    stores: ZoneStores
    migrator: Migrator
    channels: ChannelRegistry
    inbox: InboxWorker
    http_client: httpx.Client
    maps: MapChain
    dealers: DealerLocator


async def _forbidden(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_403_FORBIDDEN)


async def _apart(request: Request, exc: Exception) -> JSONResponse:
    """The deployment's residency keeps apart what the query relates: its configuration
    must change, not the request."""
    return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database is unreachable or busy (a dropped connection, SQLite's lock held too
    long, a serialization failure): the transaction was rolled back, and the same request
    may succeed later. The driver's message names hosts and databases: it goes to the log
    only."""
    reason = exc.orig if isinstance(exc, OperationalError) else exc
    log.error("%s %s answered 503: %s", request.method, request.url.path, reason)
    return JSONResponse(
        {"detail": "the database is unavailable or busy: try again later"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
    )


def create_app(
    settings: RegiocrmSettings, hooks: Hooks, *, http_client: httpx.Client | None = None
) -> FastAPI:
    """A FastAPI app with every plugin's routers, the deployment's body-size limit and the
    security headers (:mod:`regiocrm.http.headers`).

    :param http_client: the client for providers' APIs; tests pass one with a mocked
        transport. The inbox worker runs while the app's lifespan does.
    """
    stores = ZoneStores.open(settings, hooks)
    migrator = Migrator(stores, hooks)
    channels = hooks.channel_registry(settings)
    client = http_client or httpx.Client(timeout=PROVIDER_TIMEOUT)
    inbox = InboxWorker(stores, InboxPipeline(stores, hooks, channels, client))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        inbox.start(resume=all(state.migrated for state in migrator.states()))
        yield
        inbox.stop()
        if http_client is None:
            client.close()
        stores.dispose()

    app = FastAPI(
        title="regiocrm",
        version=__version__,
        description="One CRM core for every market: webhooks, the JSON API and health.",
        lifespan=lifespan,
    )
    app.state.services = Services(
        settings,
        hooks,
        stores,
        migrator,
        channels,
        inbox,
        client,
        MapChain(hooks, settings, client),
        DealerLocator(),
    )
    for router in hooks.routers():
        app.include_router(router)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(ApartError, _apart)
    app.add_exception_handler(OperationalError, _unavailable)
    app.add_middleware(BodySizeLimit, max_bytes=settings.http.max_body_bytes)
    # Added last, so it is outside the body limit: its refusals get the headers too.
    app.add_middleware(SecurityHeaders)
    return app
