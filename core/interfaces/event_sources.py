"""Event sources: what a stream plugin implements to bring vehicle events in.

A plugin registers an :class:`EventSource` (one *kind* of stream: ``mqtt``, ``jetstream``,
a Kafka of its own) through the ``register_event_sources`` hook. A deployment configures
any number of sources of the registered kinds, one table each::

    [event_sources.vehicles]
    kind = "mqtt"
    host = "broker.example.com"
    topic = "vehicles/+/events"

``regiocrm worker`` runs each configured source in a thread of its own with
:meth:`EventSource.run`, which delivers batches of :class:`VehicleEvent` to the sink and
keeps this contract:

1. **acknowledge after the sink returned**: the sink returns only once the batch is
   committed; a message is acknowledged to its broker after that, never before, so a crash
   in between redelivers it, and the sink's (VIN, event id) key makes the redelivery a
   no-op. A sink that raises leaves the batch unacknowledged, for the broker to deliver
   again;
2. **poison messages do not block the stream**: a message that is not an event is logged,
   counted (:meth:`SourceControl.rejected`) and acknowledged, or it would come back for
   ever;
3. **reconnect with backoff** (:class:`Backoff`) when the broker goes away, losing nothing
   it had not acknowledged;
4. **stop when asked** (:attr:`SourceControl.stopping`): the batch in hand is finished
   (committed and acknowledged) or abandoned without acknowledging, never half-acknowledged.
"""

from __future__ import annotations

import logging
import random
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import Field
from pydantic_core import from_json

from regiocrm.interfaces.events import EventSink, InvalidEvent, VehicleEvent, event_from_json
from regiocrm.interfaces.settings import Section
from regiocrm.platform.i18n import _

log = logging.getLogger(__name__)


class EventSourceSettings(Section):
    """Base of a source kind's settings (``[event_sources.<name>]``): ``kind`` names the
    registered :class:`EventSource`; the rest is the kind's own."""

    kind: str
    enabled: bool = Field(default=True, description="false: `regiocrm worker` leaves it alone")
    batch_size: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="the most events handed to the sink in one commit",
    )


class SourceStopped(Exception):
    """Raised inside a source when it was asked to stop while it waited."""


@dataclass
class Backoff:
    """Growing pauses between reconnection attempts: ``first`` seconds, doubled up to
    ``longest``, each drawn at random from its upper half (so that many workers cut off
    together do not all come back in the same instant); :meth:`reset` after a success."""

    first: float = 0.5
    longest: float = 30.0
    _next: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._next = self.first

    def delays(self) -> Iterator[float]:
        while True:
            delay = self._next
            self._next = min(self._next * 2, self.longest)
            yield delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not a secret

    def reset(self) -> None:
        self._next = self.first


@dataclass
class SourceStatus:
    """What one running source has done, for ``regiocrm worker``'s log and status."""

    name: str
    kind: str
    connected: bool = False
    delivered: int = 0
    batches: int = 0
    rejected: int = 0
    failures: int = 0
    reconnects: int = 0
    last_error: str | None = None
    last_delivery: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "connected": self.connected,
            "delivered": self.delivered,
            "batches": self.batches,
            "rejected": self.rejected,
            "failures": self.failures,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
            "last_delivery": None if self.last_delivery is None else self.last_delivery.isoformat(),
        }


class SourceControl:
    """What a running source is handed besides its settings: the sink, the stop signal, and
    the counters its status shows. A source calls :meth:`deliver` for each batch and
    acknowledges its messages only when it returned."""

    def __init__(
        self, name: str, kind: str, sink: EventSink, announce: Callable[[str], None] | None = None
    ) -> None:
        self.name = name
        self.stopping = threading.Event()
        self.status = SourceStatus(name, kind)
        self._sink = sink
        self._announce = announce
        self._lock = threading.Lock()

    def deliver(self, events: Sequence[VehicleEvent]) -> None:
        """Hand a batch to the sink; returns once it is committed.

        :raises Exception: whatever the sink raised (counted): acknowledge nothing then.
        """
        if not events:
            return
        try:
            self._sink(events)
        except Exception as exc:
            with self._lock:
                self.status.failures += 1
                self.status.last_error = f"sink: {exc}"
            raise
        with self._lock:
            self.status.delivered += len(events)
            self.status.batches += 1
            self.status.last_delivery = datetime.now(UTC)

    def rejected(self, where: str, reason: str) -> None:
        """Count and log a message that is not an event (it is then acknowledged)."""
        log.warning("event source %s: rejected %s: %s", self.name, where, reason)
        with self._lock:
            self.status.rejected += 1

    def read(self, messages: Iterable[tuple[bytes, str]]) -> list[VehicleEvent]:
        """The events of a batch of messages, each a payload and where it came from (its
        topic or subject); what is not an event is counted and logged as
        :meth:`rejected`, to be acknowledged with the rest."""
        events: list[VehicleEvent] = []
        for payload, where in messages:
            found, problems = events_of(payload)
            events.extend(found)
            for problem in problems:
                self.rejected(f"a message on {where}", problem)
        return events

    def connected(self) -> None:
        """Say the source is connected (and subscribed): it receives from now on."""
        with self._lock:
            was = self.status.connected
            if self.status.last_error is not None and not was:
                self.status.reconnects += 1
            self.status.connected = True
        if not was and self._announce is not None:
            self._announce(_("event source {name}: connected").format(name=self.name))

    def disconnected(self, reason: str) -> None:
        """Say the connection failed or dropped, and why; the source then tries again."""
        log.warning("event source %s: disconnected: %s", self.name, reason)
        with self._lock:
            self.status.connected = False
            self.status.last_error = reason

    def wait(self, seconds: float) -> None:
        """Pause (for a backoff), or stop waiting at once when the worker stops.

        :raises SourceStopped: when asked to stop.
        """
        if self.stopping.wait(seconds):
            raise SourceStopped

    def snapshot(self) -> SourceStatus:
        with self._lock:
            return SourceStatus(**vars(self.status))


def events_of(payload: bytes) -> tuple[list[VehicleEvent], list[str]]:
    """The events of a message's payload: one JSON event, or NDJSON, one event a line.

    :returns: the events read, and a reason for each line that is not one (``line 2:
        vin …``), for the source to count and log; those lines are dropped.
    """
    events: list[VehicleEvent] = []
    problems: list[str] = []
    lines = payload.split(b"\n")
    several = sum(1 for line in lines if line.strip()) > 1
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(event_from_json(from_json(line, allow_inf_nan=False)))
            continue
        except InvalidEvent as exc:
            reason = str(exc)
        except ValueError as exc:
            reason = _("not JSON: {reason}").format(reason=exc)
        # Numbered as the message's lines are, blank ones included, where there are several.
        problems.append(
            _("line {line}: {reason}").format(line=number, reason=reason) if several else reason
        )
    if not events and not problems:
        problems.append(_("the message is empty"))
    return events, problems


class EventSource(ABC):
    """One kind of event stream. Subclass it, set the class attributes, implement
    :meth:`run`; register an instance through ``register_event_sources``.

    :cvar kind: the name deployments use in ``kind = "..."`` (``mqtt``, ``jetstream``…).
    :cvar settings_model: the model of one configured source of this kind; subclass
        :class:`EventSourceSettings` and use ``SecretStr`` for every secret.
    """

    kind: ClassVar[str]
    settings_model: ClassVar[type[EventSourceSettings]]

    @abstractmethod
    def run(self, settings: Any, control: SourceControl) -> None:
        """Deliver the stream's events to ``control.deliver`` until ``control.stopping`` is
        set, then return. Called in a thread of its own, once per configured source.

        Acknowledge a message to the broker only after the :meth:`SourceControl.deliver`
        that carried it returned; when it raises, acknowledge nothing of that batch and let
        the broker deliver it again. Acknowledge a message that holds no event after
        counting it (:meth:`SourceControl.rejected`). When the broker is unreachable or
        the connection drops, call :meth:`SourceControl.disconnected` and try again after
        the next of :class:`Backoff`'s delays (:meth:`SourceControl.wait`), for as long as
        the worker runs.

        :param settings: this source's validated :attr:`settings_model`.
        :param control: the sink, the stop signal and the counters.
        """
