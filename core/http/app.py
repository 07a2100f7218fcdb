"""The application factory behind ``regiocrm serve`` and the tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from regiocrm import __version__
from regiocrm.hooks import Hooks
from regiocrm.http.limits import BodySizeLimit
from regiocrm.migrate import Migrator
from regiocrm.settings import RegiocrmSettings
from regiocrm.stores import ZoneStores


@dataclass
class Services:
    """What request handlers reach through ``request.app.state.services``."""

    settings: RegiocrmSettings
    hooks: Hooks
    stores: ZoneStores
    migrator: Migrator


def create_app(settings: RegiocrmSettings, hooks: Hooks) -> FastAPI:
    """A FastAPI app with every plugin's routers and the deployment's body-size limit."""
    stores = ZoneStores(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        stores.dispose()

    app = FastAPI(
        title="regiocrm",
        version=__version__,
        description="One CRM core for every market: webhooks, the JSON API and health.",
        lifespan=lifespan,
    )
    app.state.services = Services(settings, hooks, stores, Migrator(stores, hooks))
    for router in hooks.routers():
        app.include_router(router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.http.max_body_bytes)
    return app
