"""Work a request starts and answers before it ends (an uploaded import): one thread per
piece of work, which the application waits for when it closes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable

log = logging.getLogger(__name__)


class BackgroundWork:
    """Threads running work by key; a key already running is not started twice."""

    def __init__(self) -> None:
        self._threads: dict[Hashable, threading.Thread] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        """Set as the application closes: long work stops at its next checkpoint."""

    def submit(self, key: Hashable, work: Callable[[], object]) -> bool:
        """Start ``work`` in a thread unless work of ``key`` is running; whether it was
        started. An exception it raises is logged (the work records its own failure)."""

        def run() -> None:
            try:
                work()
            except Exception:
                log.exception("background work %s failed", key)

        with self._lock:
            running = self._threads.get(key)
            if running is not None and running.is_alive():
                return False
            thread = threading.Thread(target=run, name=f"regiocrm-{key}", daemon=True)
            self._threads[key] = thread
            thread.start()
            return True

    def wait(self, key: Hashable, timeout: float | None = None) -> bool:
        """Wait for the work of ``key`` to end; whether it has (or none was running)."""
        with self._lock:
            thread = self._threads.get(key)
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Ask every piece of work to stop (:attr:`stopping`) and wait for it to end, as
        the application closes."""
        self.stopping.set()
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout)
