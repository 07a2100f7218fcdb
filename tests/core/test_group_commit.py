"""Group commit: writes that arrive together share a transaction, each caller is answered
after the commit that holds its write, and one unit's failure costs the others nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.models import InboxMessage, InboxStatus
from regiocrm.models.base import utcnow
from regiocrm.platform.group_commit import GroupCommit
from regiocrm.platform.ids import new_id
from regiocrm.platform.stores import ZonedSession, ZoneStores


class Refused(Exception):
    """A unit's own refusal, as a replayed signature is."""


def keep(name: str) -> Callable[[ZonedSession], str]:
    """A unit that stores an inbox row named ``name`` and returns the name."""

    def work(session: ZonedSession) -> str:
        now = utcnow()
        zone = session.residency.zone_for("JP", DataClass.CRM)
        session.zone_connection(zone).execute(
            insert(InboxMessage),
            {
                "id": new_id(),
                "market": "JP",
                "channel": "line",
                "channel_account": "line_jp",
                "external_id": name,
                "received_at": now,
                "payload": "{}",
                "status": InboxStatus.RECEIVED,
                "created": now,
                "updated": now,
            },
        )
        return name

    return work


def kept(stores: ZoneStores) -> set[str]:
    with stores.session() as session:
        return set(session.scalars(select(InboxMessage.external_id)))


@pytest.fixture
def commits(migrated: ZoneStores) -> Iterator[list[str]]:
    """``"commit"`` each time the JP zone's database commits."""
    seen: list[str] = []
    engine = migrated.engine(migrated.residency.zone_for("JP", DataClass.CRM))

    def committed(connection: object) -> None:
        seen.append("commit")

    event.listen(engine, "commit", committed)
    yield seen
    event.remove(engine, "commit", committed)


@pytest.fixture
def group_commit(migrated: ZoneStores) -> Iterator[GroupCommit]:
    committer = GroupCommit(migrated)
    yield committer
    committer.stop()


@contextmanager
def held(group_commit: GroupCommit) -> Iterator[None]:
    """The committer busy with a first unit until the block ends: units submitted in the
    block queue behind it and form the next group."""
    holding, release = threading.Event(), threading.Event()

    def hold(session: ZonedSession) -> str:
        holding.set()
        release.wait(10)
        return "held"

    holder = threading.Thread(target=group_commit.run, args=(hold,))
    holder.start()
    assert holding.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join(10)


def submitted(
    group_commit: GroupCommit, units: list[Callable[[ZonedSession], str]]
) -> tuple[list[threading.Thread], list[str | BaseException]]:
    """Each unit run by its own caller thread, once all are queued; the threads, and what
    each caller got (result or exception) once they are joined."""
    answers: list[str | BaseException] = [RuntimeError("no answer")] * len(units)

    def call(index: int, unit: Callable[[ZonedSession], str]) -> None:
        try:
            answers[index] = group_commit.run(unit)
        except Exception as exc:
            answers[index] = exc

    callers = [threading.Thread(target=call, args=item) for item in enumerate(units)]
    for caller in callers:
        caller.start()
    deadline = time.monotonic() + 10
    while group_commit.queued < len(units) and time.monotonic() < deadline:
        time.sleep(0.001)
    return callers, answers


def run_together(
    group_commit: GroupCommit, units: list[Callable[[ZonedSession], str]]
) -> list[str | BaseException]:
    """What each caller of ``units`` got, when the units were submitted together (queued
    behind a unit that holds the committer, so they form one group)."""
    with held(group_commit):
        callers, answers = submitted(group_commit, units)
    for caller in callers:
        caller.join(10)
    return answers


def test_units_that_arrive_together_commit_in_one_transaction(
    migrated: ZoneStores, group_commit: GroupCommit, commits: list[str]
) -> None:
    answers = run_together(group_commit, [keep(f"m{n}") for n in range(20)])
    assert answers == [f"m{n}" for n in range(20)]
    assert kept(migrated) == {f"m{n}" for n in range(20)}
    # The holding unit's group, then one for all twenty that queued behind it.
    assert commits == ["commit", "commit"]


def test_a_caller_is_answered_only_after_the_commit_holding_its_write(
    migrated: ZoneStores, group_commit: GroupCommit, commits: list[str]
) -> None:
    assert group_commit.run(keep("m1")) == "m1"
    commits.append("answered")
    assert commits == ["commit", "answered"]
    assert kept(migrated) == {"m1"}


def test_a_lone_unit_waits_for_no_company(
    migrated: ZoneStores, group_commit: GroupCommit, commits: list[str]
) -> None:
    for n in range(3):
        group_commit.run(keep(f"m{n}"))
        assert len(commits) == n + 1, "each unit committed before the next was submitted"


def test_a_refused_unit_keeps_nothing_and_the_others_are_kept(
    migrated: ZoneStores, group_commit: GroupCommit
) -> None:
    def refused(session: ZonedSession) -> str:
        keep("refused")(session)
        raise Refused("this signature was already used with another body")

    answers = run_together(group_commit, [keep("m1"), refused, keep("m2")])
    assert answers[0] == "m1"
    assert isinstance(answers[1], Refused)
    assert str(answers[1]) == "this signature was already used with another body"
    assert answers[2] == "m2"
    assert kept(migrated) == {"m1", "m2"}


def test_a_unit_breaking_a_constraint_is_rolled_out_of_its_group(
    migrated: ZoneStores, group_commit: GroupCommit
) -> None:
    """A constraint is the unit's own data, not the database failing: the others go on."""
    group_commit.run(keep("m1"))
    answers = run_together(group_commit, [keep("m2"), keep("m1"), keep("m3")])
    assert answers[0] == "m2"
    assert isinstance(answers[1], IntegrityError)
    assert answers[2] == "m3"
    assert kept(migrated) == {"m1", "m2", "m3"}


def test_a_database_error_fails_every_unit_of_the_group_and_keeps_none(
    migrated: ZoneStores, group_commit: GroupCommit
) -> None:
    def broken(session: ZonedSession) -> str:
        zone = session.residency.zone_for("JP", DataClass.CRM)
        session.zone_connection(zone).execute(text("INSERT INTO no_such_table VALUES (1)"))
        return "broken"

    answers = run_together(group_commit, [keep("m1"), broken, keep("m2")])
    assert all(isinstance(answer, OperationalError) for answer in answers)
    assert "no_such_table" in str(answers[0])
    assert kept(migrated) == set()
    assert group_commit.run(keep("m3")) == "m3", "the committer goes on after a failed group"


def test_stop_commits_what_is_queued(migrated: ZoneStores) -> None:
    committer = GroupCommit(migrated)
    with held(committer):
        callers, answers = submitted(committer, [keep(f"m{n}") for n in range(5)])
        stopping = threading.Thread(target=committer.stop)
        stopping.start()
    stopping.join(10)
    for caller in callers:
        caller.join(10)
    assert answers == [f"m{n}" for n in range(5)]
    assert kept(migrated) == {f"m{n}" for n in range(5)}


def test_a_failure_of_the_committer_itself_answers_the_caller_and_it_goes_on(
    migrated: ZoneStores, group_commit: GroupCommit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing in the committer may leave a webhook waiting for ever."""

    def broken(group: object) -> None:
        raise RuntimeError("a bug in the committer")

    with monkeypatch.context() as patched:
        patched.setattr(group_commit, "_commit", broken)
        with pytest.raises(RuntimeError, match="a bug in the committer"):
            group_commit.run(keep("m1"))
    assert group_commit.run(keep("m2")) == "m2"
    assert kept(migrated) == {"m2"}
