"""The competence centre's view of the deployment: ``/markets`` (every served market and its
rollout check), ``/markets/residency`` (where the rows are) and ``/markets/storage`` (each
organization's storage and the day its quota runs out, as a chart).

The service decides who may read them (:class:`~regiocrm.services.markets.MarketService`);
anyone else gets the refusal page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse

from regiocrm.console.charts import storage_chart
from regiocrm.console.pages import Reader, render
from regiocrm.console.sessions import Visit, VisitDep
from regiocrm.crm.access import Forbidden
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import AppDep, services
from regiocrm.interfaces.rollout import Outcome
from regiocrm.platform import i18n
from regiocrm.platform.i18n import _
from regiocrm.services.markets import MarketService

router = APIRouter(include_in_schema=False)

Answer = TypeVar("Answer")


@contextmanager
def speaking(reader: Reader, request: Request) -> Iterator[None]:
    """Within the block, what the services word (a rollout check's reason and fix) comes in
    the reader's language."""
    with i18n.use_locale(reader.locale, services(request).hooks.catalog_folders().values()):
        yield


def refused(signed: Visit, request: Request) -> HTMLResponse:
    """The refusal page for a role that does not oversee the deployment."""
    return render(
        signed.reader,
        request,
        "refused.html",
        status_code=status.HTTP_403_FORBIDDEN,
        reason=_("Only administrators and the competence centre see this page."),
    )


def _overseen(signed: Visit, request: Request, read: Callable[[], Answer]) -> Answer | HTMLResponse:
    try:
        with speaking(signed.reader, request):
            return read()
    except Forbidden:
        return refused(signed, request)


@router.get("/markets")
def markets_page(request: Request, app: AppDep, signed: VisitDep) -> HTMLResponse:
    """Every served market, those whose rollout fails first, each finding with its fix."""
    found = _overseen(signed, request, lambda: MarketService(app).markets(signed.caller))
    if isinstance(found, HTMLResponse):
        return found
    return render(
        signed.reader,
        request,
        "markets.html",
        markets=found,
        Outcome=Outcome,
        failing=[market.code for market in found if market.outcome is Outcome.FAIL],
    )


@router.get("/markets/residency")
def residency_page(request: Request, app: AppDep, signed: VisitDep) -> HTMLResponse:
    """Rows per zone, market and data class; misplaced rows and unreachable zones first."""
    found = _overseen(signed, request, lambda: MarketService(app).residency(signed.caller))
    if isinstance(found, HTMLResponse):
        return found
    holdings = sorted(
        ((zone, holding) for zone in found.zones for holding in zone.holdings),
        key=lambda pair: (pair[1].status == "ok", pair[0].zone, pair[1].market),
    )
    return render(signed.reader, request, "residency.html", report=found, holdings=holdings)


@router.get("/markets/storage")
def storage_page(request: Request, app: AppDep, signed: VisitDep) -> HTMLResponse:
    """Each organization's storage and the day its quota runs out: a chart and a table."""
    found = _overseen(signed, request, lambda: MarketService(app).storage(signed.caller))
    if isinstance(found, HTMLResponse):
        return found
    return render(signed.reader, request, "storage.html", report=found, chart=storage_chart(found))


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
