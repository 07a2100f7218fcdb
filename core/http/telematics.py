"""``/api/telematics/events``: vehicle events from a connected-car provider, in batches of
newline-delimited JSON (one event a line)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from starlette.concurrency import run_in_threadpool

from regiocrm.crm.customers import UnknownCustomer
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import AppDep, CallerDep
from regiocrm.http.inputs import unstorable_in
from regiocrm.http.problems import problems
from regiocrm.interfaces.events import InvalidEvent, VehicleEvent, event_from_json
from regiocrm.platform.i18n import _

router = APIRouter(prefix="/api/telematics", tags=["telematics"])
customers = APIRouter(prefix="/api/customers", tags=["customers", "telematics"])

NDJSON = "application/x-ndjson"
EXAMPLE = (
    '{"vin": "LSVAU2180N2183294", "event_id": "e-1", "kind": "mileage",'
    ' "occurred_at": "2026-12-01T12:00:00+08:00", "payload": {"odometer_km": 12840}}\n'
    '{"vin": "LSVAU2180N2183294", "event_id": "e-2", "kind": "warning_lamp",'
    ' "occurred_at": "2026-12-01T12:05:00+08:00", "payload": {"lamp": "engine"}}\n'
)


class BadBatch(ValueError):
    """A batch that cannot be read; the message names the line."""


def _no_constant(name: str) -> Any:
    raise ValueError(_("{name} is not a JSON number").format(name=name))


def read_batch(body: bytes) -> list[VehicleEvent]:
    """Every event of an NDJSON body, blank lines passed over, or :class:`BadBatch` naming
    the first line (from 1) that is not an event, so a batch is stored whole or not at
    all."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadBatch(
            _("the body is not UTF-8 (byte {position})").format(position=exc.start)
        ) from None
    events = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line, parse_constant=_no_constant)
            unstorable = unstorable_in(value)
            if unstorable is not None:
                raise InvalidEvent(unstorable)
            events.append(event_from_json(value))
        except (ValueError, RecursionError) as exc:
            # json's own errors name the column too; ours are InvalidEvent's reasons.
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            if isinstance(exc, RecursionError):
                reason = _("nested too deeply")
            raise BadBatch(_("line {line}: {reason}").format(line=number, reason=reason)) from None
    if not events:
        raise BadBatch(_("the body holds no event: one JSON object a line"))
    return events


@router.post(
    "/events",
    responses=problems(400, 401, 403, 413, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {NDJSON: {"schema": {"type": "string"}, "example": EXAMPLE}},
        }
    },
)
async def post_events(request: Request, caller: CallerDep, app: AppDep) -> dict[str, Any]:
    """Store a batch of vehicle events, one JSON object a line: ``vin``, ``event_id`` (the
    provider's), ``kind`` (mileage, service_due, warning_lamp, trip_summary),
    ``occurred_at`` (ISO 8601 with its offset) and an optional ``payload`` object.

    Answered once the batch is committed, with what became of it: ``stored``,
    ``duplicates`` (stored before: a no-op), ``unknown_vehicles`` and ``unknown_vins``
    (not stored), and the ``leads`` and ``cases`` the market's rules made. A line that is
    not an event is 400 naming it, and nothing of the batch is stored; a batch of more
    events than ``[telematics] max_batch_events``, or a body over ``[http] max_body_bytes``,
    is 413. Only a telematics provider (for its market), an administrator or the
    competence centre may post (403)."""
    try:
        events = read_batch(await request.body())
    except BadBatch as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from None
    limit = app.settings.telematics.max_batch_events
    if len(events) > limit:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=_("a batch of {count} events is more than {limit}: split it").format(
                count=len(events), limit=limit
            ),
        )
    ingested = await run_in_threadpool(app.telematics.post, caller, events)
    return ingested.as_json()


@customers.get("/{customer_id}/telematics", responses=problems(401, 403, 404, 422, 503))
def customer_telematics(customer_id: uuid.UUID, caller: CallerDep, app: AppDep) -> dict[str, Any]:
    """What the customer's vehicles report: each one's latest mileage (``mileage``) and the
    latest events (``events``, newest first: ``kind``, ``occurred_at``, ``local_time`` in
    the vehicle's market's time zone and a ``summary``). Of the vehicles the caller sees
    the customer own; audited as a read."""
    try:
        return app.telematics.of_customer(caller, customer_id).as_json()
    except UnknownCustomer as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router, customers]
