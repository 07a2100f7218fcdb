"""Group commit: writes that arrive together share one transaction, and each is answered
only after the commit that holds it.

A webhook must be committed before the provider is answered, and a burst of webhooks (a
campaign's replies) would otherwise be as many transactions, each waiting its turn for
SQLite's one writer (with the busy handler's growing sleeps in between) or for its own
flush of PostgreSQL's log. :class:`GroupCommit` hands every unit of work to one committer
thread instead. While it commits one group, the next gathers in its queue, so a lone
request waits for nobody, and a burst is written in as many transactions as the database
takes time to commit, not as many as there are requests.

A unit that raises has its writes mixed with the others': the group is rolled back, that
unit gets its exception, and the rest run again in a new transaction. The database itself
failing (unreachable, its disk full, its lock held too long: an ``OperationalError`` or
``InterfaceError``) fails the whole group instead: every caller gets the error, and none is
told its write was kept.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError

from regiocrm.platform.stores import ZonedSession, ZoneStores

log = logging.getLogger(__name__)

Result = TypeVar("Result")

# Enough to take a burst from a full thread pool in one transaction; the cap keeps one
# hostile unit's replay of the rest bounded.
MAX_GROUP = 64
# What says the database failed, not the unit that ran into it.
DATABASE_FAILED = (OperationalError, InterfaceError)


@dataclass
class _Unit(Generic[Result]):
    work: Callable[[ZonedSession], Result]
    done: Future[Result] = field(default_factory=Future)


class GroupCommit:
    """One committer thread for a deployment's stores, started on first use."""

    def __init__(self, stores: ZoneStores, *, max_group: int = MAX_GROUP) -> None:
        self.stores = stores
        self.max_group = max_group
        self._queue: queue.SimpleQueue[_Unit[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, work: Callable[[ZonedSession], Result]) -> Result:
        """Run ``work`` in a transaction shared with the units submitted alongside it, and
        return what it returned once that transaction is committed.

        :raises Exception: what ``work`` raised (nothing of it is kept), or what the
            commit raised (nothing of the group is kept).
        """
        unit = _Unit(work)
        self._ensure_started()
        self._queue.put(unit)
        return unit.done.result()

    @property
    def queued(self) -> int:
        """How many units wait for the committer (approximately, as the queue says)."""
        return self._queue.qsize()

    def stop(self) -> None:
        """Commit what is queued, then stop the committer thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._commit_forever, name="regiocrm-group-commit", daemon=True
                )
                self._thread.start()

    def _commit_forever(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stopping = False
            while len(group) < self.max_group:
                try:
                    unit = self._queue.get_nowait()
                except queue.Empty:
                    break
                if unit is None:
                    stopping = True
                    break
                group.append(unit)
            try:
                self._commit(group)
            except Exception as exc:
                # A bug of ours must not leave a webhook waiting for ever, nor stop the thread.
                log.exception("the committer failed a group of %d writes", len(group))
                for unit in group:
                    if not unit.done.done():
                        unit.done.set_exception(exc)
            if stopping:
                return

    def _commit(self, group: list[_Unit[Any]]) -> None:
        while group:
            results: list[Any] = []
            failed: _Unit[Any] | None = None
            try:
                with self.stores.session() as session:
                    for unit in group:
                        try:
                            results.append(unit.work(session))
                        except DATABASE_FAILED:
                            raise
                        except Exception as exc:
                            failed = unit
                            unit.done.set_exception(exc)
                            raise _RollBack from exc
            except _RollBack:
                group = [unit for unit in group if unit is not failed]
                continue
            except Exception as exc:
                if not isinstance(exc, DATABASE_FAILED):
                    log.exception("a group of %d writes was not committed", len(group))
                for unit in group:
                    unit.done.set_exception(exc)
                return
            for unit, result in zip(group, results, strict=True):
                unit.done.set_result(result)
            return


class _RollBack(Exception):
    """One unit refused: undo the group's writes, then commit the others without it."""
