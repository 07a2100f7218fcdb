"""Vehicle events: what a connected car reports, and what a stream source delivers.

An event arrives by ``POST /api/telematics/events`` (NDJSON) or from a stream source that
a plugin registers through ``register_event_sources`` (MQTT and NATS JetStream are
built in). Either way it is read by :func:`event_from_json` into a :class:`VehicleEvent`
and handed, a batch at a time, to an :data:`EventSink`, which returns only once the batch
is committed: a source acknowledges to its stream after the sink returns, never before, so
a crash between the two redelivers the batch, and the (VIN, event id) key makes the
redelivery a no-op.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from regiocrm.platform.i18n import _

# ISO 3779: 17 characters, digits and capitals without I, O and Q (mistaken for 1 and 0).
VIN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
EVENT_ID_MAX = 128


class EventKind(enum.StrEnum):
    MILEAGE = "mileage"
    SERVICE_DUE = "service_due"
    WARNING_LAMP = "warning_lamp"
    TRIP_SUMMARY = "trip_summary"


class InvalidEvent(ValueError):
    """An event that cannot be read; the message says why."""


@dataclass(frozen=True)
class VehicleEvent:
    """One event from one vehicle. ``event_id`` is the provider's: with the VIN it is what
    makes a redelivered event the same event. ``occurred_at`` is time-zone aware."""

    vin: str
    event_id: str
    kind: EventKind
    occurred_at: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)


# Stores a batch and returns after its commit; raises when it could not (nothing of the
# batch is then acknowledged). What it returns is not the source's concern (the ingest
# service's counts), so any return value will do.
EventSink = Callable[[Sequence[VehicleEvent]], object]


def event_from_json(value: Any) -> VehicleEvent:
    """Read one event from decoded JSON: an object with ``vin``, ``event_id``, ``kind``,
    ``occurred_at`` (ISO 8601 with an offset) and an optional ``payload`` object.

    :raises InvalidEvent: naming the field that is missing or wrong.
    """
    if not isinstance(value, dict):
        raise InvalidEvent(_("an event is a JSON object"))
    vin = _text(value, "vin").upper()
    if not VIN.match(vin):
        raise InvalidEvent(
            _("vin {vin!r} is not 17 letters and digits (no I, O or Q)").format(vin=vin)
        )
    event_id = _text(value, "event_id")
    if len(event_id) > EVENT_ID_MAX:
        raise InvalidEvent(
            _("event_id is longer than {limit} characters").format(limit=EVENT_ID_MAX)
        )
    kind = _text(value, "kind")
    try:
        event_kind = EventKind(kind)
    except ValueError:
        known = ", ".join(kind.value for kind in EventKind)
        raise InvalidEvent(
            _("kind {kind!r} is not one of {known}").format(kind=kind, known=known)
        ) from None
    occurred = _text(value, "occurred_at")
    try:
        occurred_at = datetime.fromisoformat(occurred)
    except ValueError:
        raise InvalidEvent(
            _("occurred_at {time!r} is not an ISO 8601 time").format(time=occurred)
        ) from None
    if occurred_at.tzinfo is None:
        raise InvalidEvent(_("occurred_at {time!r} has no UTC offset").format(time=occurred))
    payload = value.get("payload", {})
    if not isinstance(payload, dict):
        raise InvalidEvent(_("payload is not a JSON object"))
    if any(isinstance(number, float) and not math.isfinite(number) for number in payload.values()):
        raise InvalidEvent(_("payload holds a number that is not finite"))
    return VehicleEvent(vin, event_id, event_kind, occurred_at, payload)


def _text(value: Mapping[str, Any], key: str) -> str:
    found = value.get(key)
    if not isinstance(found, str) or not found.strip():
        raise InvalidEvent(_("{key} is missing or not a string").format(key=key))
    return found.strip()


def batch_from_json(values: Sequence[Any]) -> list[VehicleEvent]:
    """Every event of a batch, or :class:`InvalidEvent` naming the first bad one's position
    (from 1), so that a batch is stored whole or not at all."""
    events = []
    for position, value in enumerate(values, start=1):
        try:
            events.append(event_from_json(value))
        except InvalidEvent as exc:
            raise InvalidEvent(
                _("line {line}: {reason}").format(line=position, reason=exc)
            ) from None
    return events
