"""The deployment's event sources, each running in a thread of ``regiocrm worker``.

Every ``[event_sources.<name>]`` that is enabled runs its kind's
:meth:`~regiocrm.interfaces.event_sources.EventSource.run` with a
:class:`~regiocrm.interfaces.event_sources.SourceControl` whose sink is the telematics
ingest (:meth:`regiocrm.services.telematics.TelematicsService.ingest`), or any sink given.
A source that fails in a way it did not handle itself is logged and started again after a
backoff, for as long as the worker runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from regiocrm.interfaces.event_sources import (
    Backoff,
    EventSource,
    SourceControl,
    SourceStatus,
    SourceStopped,
)
from regiocrm.interfaces.events import EventSink, VehicleEvent
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.services.application import Application

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConfiguredSource:
    """One ``[event_sources.<name>]`` table: its kind's source and its validated settings."""

    name: str
    source: EventSource
    settings: Any

    @property
    def kind(self) -> str:
        return self.source.kind

    @property
    def enabled(self) -> bool:
        return bool(self.settings.enabled)


def configured_sources(settings: RegiocrmSettings, hooks: Hooks) -> list[ConfiguredSource]:
    """Every configured source, in name order, with the registered kind that runs it.

    :raises KeyError: never for settings :func:`regiocrm.platform.settings.load_settings`
        read, which checks every kind against the registered ones.
    """
    kinds = hooks.event_sources()
    return [
        ConfiguredSource(name, kinds[values.kind], values)
        for name, values in sorted(settings.event_sources.items())
    ]


def ingesting(app: Application) -> EventSink:
    """The telematics ingest as a sink, logging the events of vehicles the deployment does
    not know (stored nowhere, and acknowledged: sending them again would not help)."""
    service = app.telematics

    def sink(events: Sequence[VehicleEvent]) -> None:
        result = service.ingest(events)
        if result.unknown_vehicles:
            log.warning(
                "%d events of unknown vehicles not stored: %s",
                result.unknown_vehicles,
                ", ".join(result.unknown_vins),
            )

    return sink


class SourceRunner:
    """Runs configured sources in threads until :meth:`stop`."""

    def __init__(
        self,
        sources: Sequence[ConfiguredSource],
        sink: EventSink,
        announce: Callable[[str], None] | None = None,
    ) -> None:
        """:param announce: told when a source connects (the worker prints it)."""
        self.sources = [source for source in sources if source.enabled]
        self.controls = {
            source.name: SourceControl(source.name, source.kind, sink, announce)
            for source in self.sources
        }
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for source in self.sources:
            thread = threading.Thread(
                target=self._run, args=(source,), name=f"regiocrm-source-{source.name}"
            )
            thread.start()
            self._threads.append(thread)

    def _run(self, source: ConfiguredSource) -> None:
        control = self.controls[source.name]
        delays = Backoff().delays()
        while not control.stopping.is_set():
            try:
                source.source.run(source.settings, control)
            except SourceStopped:
                return
            except Exception as exc:
                log.exception("event source %s (%s) failed", source.name, source.kind)
                control.disconnected(f"{type(exc).__name__}: {exc}")
                try:
                    control.wait(next(delays))
                except SourceStopped:
                    return

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every source to stop and wait for each to return: the batch in hand is
        committed and acknowledged, or abandoned unacknowledged."""
        for control in self.controls.values():
            control.stopping.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def statuses(self) -> list[SourceStatus]:
        return [control.snapshot() for control in self.controls.values()]
