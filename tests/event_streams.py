"""What the event-source tests share: the brokers on this machine (skipped with the reason
when absent, failed under ``CI=true``), a sink that remembers what it was handed and can be
made to fail or to hold a batch, and a source run in threads as ``regiocrm worker`` runs it."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

from regiocrm.interfaces.event_sources import EventSource, SourceControl
from regiocrm.interfaces.events import VehicleEvent
from regiocrm.services.event_sources import ConfiguredSource, SourceRunner

MQTT = ("127.0.0.1", 1883)
NATS = ("127.0.0.1", 4222)
# Generous, for a machine busy with other tests.
WITHIN_SECONDS = 30

T = TypeVar("T")


def run_apart(coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(coroutine())`` in a thread of its own: where a browser test ran
    earlier in the same process, Playwright's loop is that process's running loop, and
    ``asyncio.run`` refuses to start another in its thread."""
    answer: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            answer.append(asyncio.run(coroutine()))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="asyncio-apart")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return answer[0]


def require_broker(address: tuple[str, int], what: str) -> None:
    """Skip with the reason when ``what`` does not listen at ``address``; fail under
    ``CI=true``, where a missing broker means the suite would silently test less."""
    try:
        socket.create_connection(address, timeout=2).close()
    except OSError as exc:
        reason = f"{what} at {address[0]}:{address[1]} is unreachable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: event source tests must run)")
        pytest.skip(reason)


def event_json(vin: str, event_id: str, kind: str = "mileage", **payload: Any) -> dict[str, Any]:
    return {
        "vin": vin,
        "event_id": event_id,
        "kind": kind,
        "occurred_at": "2026-12-01T12:00:00+08:00",
        "payload": payload or {"odometer_km": 1000},
    }


def payload(vin: str, event_id: str, **values: Any) -> bytes:
    return json.dumps(event_json(vin, event_id, **values)).encode()


class MemorySink:
    """Keeps each event once by (VIN, event id), as the telematics store does, and counts
    every delivery of each; ``failing`` makes it raise, ``holding`` makes it wait (once
    handed a batch) until ``release``."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, str], VehicleEvent] = {}
        self.deliveries: Counter[tuple[str, str]] = Counter()
        self.failures = 0
        self.failing = False
        self.holding = False
        self.held = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Condition()

    def __call__(self, events: Sequence[VehicleEvent]) -> None:
        if self.holding:
            self.held.set()
            self._release.wait(WITHIN_SECONDS)
        with self._lock:
            if self.failing:
                self.failures += 1
                self._lock.notify_all()
                raise RuntimeError("the database is away")
            for event in events:
                key = (event.vin, event.event_id)
                self.deliveries[key] += 1
                self.stored.setdefault(key, event)
            self._lock.notify_all()

    def release(self) -> None:
        self.holding = False
        self._release.set()

    def wait_for(self, condition: Callable[[MemorySink], bool], what: str) -> None:
        with self._lock:
            if not self._lock.wait_for(lambda: condition(self), WITHIN_SECONDS):
                pytest.fail(f"waited {WITHIN_SECONDS} s for {what}; stored {len(self.stored)}")

    def wait_stored(self, count: int) -> None:
        self.wait_for(lambda sink: len(sink.stored) >= count, f"{count} events")


@contextmanager
def running_source(
    source: EventSource, settings: Any, sink: MemorySink, *, name: str = "test"
) -> Iterator[SourceControl]:
    """The source in a thread, as ``regiocrm worker`` runs it, until the block ends."""
    runner = SourceRunner([ConfiguredSource(name, source, settings)], sink)
    runner.start()
    try:
        yield runner.controls[name]
    finally:
        runner.stop()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WITHIN_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WITHIN_SECONDS} s for {what}")
        time.sleep(0.02)
