"""The application factories behind ``regiocrm serve`` and the tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import Depends, FastAPI

from regiocrm import __version__
from regiocrm.http import problems
from regiocrm.http.headers import SecurityHeaders
from regiocrm.http.imports import UPLOADS_PATH
from regiocrm.http.inputs import refuse_unstorable
from regiocrm.http.limits import BodySizeLimit
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.plugins import get_plugin_manager
from regiocrm.platform.settings import RegiocrmSettings, load_settings
from regiocrm.services.application import Application


class RegiocrmAPI(FastAPI):
    """FastAPI whose OpenAPI document defines the problem details every error answers."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = problems.with_problem_schemas(super().openapi())
        return self.openapi_schema


def create_app(
    settings: RegiocrmSettings, hooks: Hooks, *, http_client: httpx.Client | None = None
) -> FastAPI:
    """A FastAPI app with every plugin's routers, the deployment's body-size limit and the
    security headers (:mod:`regiocrm.http.headers`); every refusal answers problem details,
    and no route takes NaN, Infinity or NUL.

    :param http_client: the client for providers' APIs; tests pass one with a mocked
        transport. The application (:mod:`regiocrm.services`) is the routes'
        ``request.app.state.services``; its inbox worker runs while the app's lifespan does.
    """
    application = Application.open(settings, hooks, http_client=http_client)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        application.start()
        yield
        application.close()

    app = RegiocrmAPI(
        title="regiocrm",
        version=__version__,
        description="One CRM core for every market: webhooks, the JSON API and health."
        " Every error answers RFC 9457 problem details (`application/problem+json`).",
        lifespan=lifespan,
        dependencies=[Depends(refuse_unstorable)],
    )
    app.state.services = application
    for router in hooks.routers():
        app.include_router(router)
    problems.install(app)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.http.max_body_bytes,
        streamed={UPLOADS_PATH: settings.http.max_upload_bytes},
    )
    # Added last, so it is outside the body limit: its refusals get the headers too.
    app.add_middleware(SecurityHeaders)
    return app


WORKER_APP = f"{__name__}:worker_app"


def worker_app() -> FastAPI:
    """The app of one ``regiocrm serve --workers N`` process (:data:`WORKER_APP`, uvicorn's
    ``--factory``): every installed plugin, and the settings from the environment, the
    ``.env`` and the ``regiocrm.toml`` the command was run with, which worker processes
    inherit."""
    hooks = Hooks(get_plugin_manager())
    return create_app(load_settings(hooks), hooks)
