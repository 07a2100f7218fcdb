"""The sign-in service: console passwords set by the operator, sessions kept as digests of
their tokens, one refusal whatever the reason, and a limit on failed attempts that holds
across applications and lifts after its window. Time is a clock the tests move."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from regiocrm.crm.accounts import PASSWORDS, AccountError
from regiocrm.interfaces.terms import UserRole
from regiocrm.models import AuditEvent, ConsoleSession, SignInFailure, User
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores
from regiocrm.services.application import Application
from regiocrm.services.directory import DirectoryService
from regiocrm.services.signin import SignInRefused, SignInService, TooManyAttempts

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def signin(application: Application, clock: Clock) -> SignInService:
    DirectoryService(application).add_user("mei", UserRole.ADMIN, password=PASSWORD)
    return SignInService(application, clock=clock)


def user_named(stores: ZoneStores, name: str) -> User:
    with stores.session() as session:
        return session.scalars(select(User).where(User.name == name)).one()


def actions(stores: ZoneStores) -> list[tuple[str, str | None]]:
    with stores.session() as session:
        return [
            (action, detail.get("name"))
            for action, detail in session.execute(
                select(AuditEvent.action, AuditEvent.detail).order_by(AuditEvent.id)
            )
        ]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_signing_in_opens_a_session_whose_caller_is_the_user(
    signin: SignInService, migrated: ZoneStores
) -> None:
    signed = signin.sign_in("mei", PASSWORD, address="192.0.2.1")
    assert (signed.caller.name, signed.caller.role) == ("mei", UserRole.ADMIN)
    assert signed.expires_at == signin.clock() + timedelta(hours=12)
    visitor = signin.visitor(signed.session_token)
    assert visitor is not None
    caller = visitor.caller
    assert caller.user_id == user_named(migrated, "mei").id
    assert (visitor.locale, visitor.market) == (None, user_named(migrated, "mei").market)
    assert signin.visitor(signed.csrf_token) is None
    with migrated.session() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "user.signed_in")
        ).one()
        assert (event.actor_id, event.detail["address"]) == (caller.user_id, "192.0.2.1")


def test_the_tokens_are_stored_only_as_digests(signin: SignInService, migrated: ZoneStores) -> None:
    signed = signin.sign_in("mei", PASSWORD, address="192.0.2.1")
    with migrated.session() as session:
        [row] = session.scalars(select(ConsoleSession)).all()
        columns = [str(getattr(row, c.key)) for c in ConsoleSession.__table__.columns]
    assert (row.token_hash, row.csrf_hash) == (
        digest(signed.session_token),
        digest(signed.csrf_token),
    )
    assert not any(signed.session_token in value or signed.csrf_token in value for value in columns)
    assert row.address == "192.0.2.1"


def test_wrong_password_unknown_user_no_password_and_inactive_get_one_refusal(
    signin: SignInService, application: Application, migrated: ZoneStores
) -> None:
    DirectoryService(application).add_user("li", UserRole.ADMIN)  # no password
    DirectoryService(application).add_user("wu", UserRole.ADMIN, password=PASSWORD)
    with migrated.session() as session:
        session.scalars(select(User).where(User.name == "wu")).one().active = False
    messages = set()
    for name, password in [("mei", "not the password"), ("nobody", PASSWORD), ("li", ""),
                           ("wu", PASSWORD)]:  # fmt: skip
        with pytest.raises(SignInRefused) as refused:
            signin.sign_in(name, password, address=f"192.0.2.{len(name)}")
        messages.add(str(refused.value))
    assert messages == {"wrong user name or password"}
    failed = [name for action, name in actions(migrated) if action == "user.sign_in_failed"]
    assert failed == ["mei", "nobody", "li", "wu"]
    with migrated.session() as session:
        assert session.scalars(select(ConsoleSession)).all() == []


def test_an_overlong_name_or_password_is_refused_and_counted(
    signin: SignInService, migrated: ZoneStores
) -> None:
    with pytest.raises(SignInRefused):
        signin.sign_in("m" * 5000, PASSWORD, address="2001:db8::1" * 20)
    with pytest.raises(SignInRefused):
        signin.sign_in("mei", PASSWORD + "x" * 1024, address="192.0.2.1")
    with migrated.session() as session:
        kept = session.execute(select(SignInFailure.name, SignInFailure.address)).all()
    assert sorted((len(name), len(address)) for name, address in kept) == [(3, 9), (100, 100)]


def test_too_many_failures_for_a_name_refuse_it_until_the_window_has_passed(
    signin: SignInService, clock: Clock
) -> None:
    for attempt in range(5):
        with pytest.raises(SignInRefused):
            signin.sign_in("mei", "guess", address=f"198.51.100.{attempt}")
        clock.move(minutes=1)
    # The right password too: the limit is checked before the password.
    with pytest.raises(TooManyAttempts) as refused:
        signin.sign_in("mei", PASSWORD, address="203.0.113.9")
    # The first failure leaves the 15-minute window 10 minutes from now.
    assert refused.value.retry_after == 10 * 60
    assert "try again in 600 seconds" in str(refused.value)
    clock.move(minutes=10)
    assert signin.sign_in("mei", PASSWORD, address="203.0.113.9").caller.name == "mei"


def test_too_many_failures_from_an_address_refuse_it_but_not_others(
    signin: SignInService, clock: Clock
) -> None:
    for name in ("a", "b", "c", "d", "e"):
        with pytest.raises(SignInRefused):
            signin.sign_in(name, "guess", address="198.51.100.7")
    with pytest.raises(TooManyAttempts) as refused:
        signin.sign_in("mei", PASSWORD, address="198.51.100.7")
    assert refused.value.retry_after == 15 * 60
    assert signin.sign_in("mei", PASSWORD, address="198.51.100.8").caller.name == "mei"
    clock.move(minutes=15, seconds=1)
    assert signin.sign_in("mei", PASSWORD, address="198.51.100.7").caller.name == "mei"


def test_the_limit_holds_for_another_application_over_the_same_zones(
    signin: SignInService,
    clock: Clock,
    settings: RegiocrmSettings,
    regiocrm_hooks: Hooks,
    migrated: ZoneStores,
) -> None:
    for _attempt in range(5):
        with pytest.raises(SignInRefused):
            signin.sign_in("mei", "guess", address="198.51.100.7")
    other = Application.open(settings, regiocrm_hooks)
    try:
        with pytest.raises(TooManyAttempts):
            SignInService(other, clock=clock).sign_in("mei", PASSWORD, address="203.0.113.1")
    finally:
        other.close()
    # Refused by the limit is not counted again: the five failures stay five.
    with migrated.session() as session:
        assert len(session.scalars(select(SignInFailure)).all()) == 5


def test_failures_older_than_the_window_are_removed(
    signin: SignInService, clock: Clock, migrated: ZoneStores
) -> None:
    with pytest.raises(SignInRefused):
        signin.sign_in("mei", "guess", address="198.51.100.7")
    clock.move(minutes=16)
    with pytest.raises(SignInRefused):
        signin.sign_in("mei", "guess again", address="198.51.100.7")
    with migrated.session() as session:
        assert [f.failed_at for f in session.scalars(select(SignInFailure))] == [clock.now]


def test_an_expired_session_has_no_caller(signin: SignInService, clock: Clock) -> None:
    signed = signin.sign_in("mei", PASSWORD, address="192.0.2.1")
    clock.move(hours=11, minutes=59)
    assert signin.visitor(signed.session_token) is not None
    clock.move(minutes=1)
    assert signin.visitor(signed.session_token) is None
    assert not signin.check_csrf(signed.session_token, signed.csrf_token)


def test_a_session_of_a_user_made_inactive_has_no_caller(
    signin: SignInService, migrated: ZoneStores
) -> None:
    signed = signin.sign_in("mei", PASSWORD, address="192.0.2.1")
    with migrated.session() as session:
        session.scalars(select(User).where(User.name == "mei")).one().active = False
    assert signin.visitor(signed.session_token) is None


def test_last_seen_slides_with_use(
    signin: SignInService, clock: Clock, migrated: ZoneStores
) -> None:
    signed = signin.sign_in("mei", PASSWORD, address="192.0.2.1")
    clock.move(minutes=30)
    assert signin.visitor(signed.session_token) is not None
    with migrated.session() as session:
        assert session.scalars(select(ConsoleSession.last_seen_at)).one() == clock.now


def test_signing_out_ends_the_session(signin: SignInService, migrated: ZoneStores) -> None:
    signed = signin.sign_in("mei", PASSWORD, address="192.0.2.1")
    signin.sign_out(signed.session_token)
    assert signin.visitor(signed.session_token) is None
    assert not signin.check_csrf(signed.session_token, signed.csrf_token)
    signin.sign_out(signed.session_token)  # again: nothing more happens
    assert [a for a, _name in actions(migrated)].count("user.signed_out") == 1


def test_the_csrf_token_is_checked_against_its_own_session(signin: SignInService) -> None:
    first = signin.sign_in("mei", PASSWORD, address="192.0.2.1")
    second = signin.sign_in("mei", PASSWORD, address="192.0.2.2")
    assert signin.check_csrf(first.session_token, first.csrf_token)
    assert not signin.check_csrf(first.session_token, second.csrf_token)
    assert not signin.check_csrf(first.session_token, "")
    assert not signin.check_csrf("no such session", first.csrf_token)


def test_a_hash_of_older_parameters_is_rehashed_at_sign_in(
    signin: SignInService, migrated: ZoneStores
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with migrated.session() as session:
        session.scalars(select(User).where(User.name == "mei")).one().password_hash = weak
    assert PASSWORDS.check_needs_rehash(weak)
    signin.sign_in("mei", PASSWORD, address="192.0.2.1")
    stored = user_named(migrated, "mei").password_hash
    assert stored is not None
    assert stored != weak
    assert not PASSWORDS.check_needs_rehash(stored)
    assert PASSWORDS.verify(stored, PASSWORD)


def test_setting_a_password_is_audited_without_an_actor(
    application: Application, migrated: ZoneStores, clock: Clock
) -> None:
    DirectoryService(application).add_user("li", UserRole.ADMIN)
    service = SignInService(application, clock=clock)
    service.set_password("li", "a long enough secret")
    assert service.sign_in("li", "a long enough secret", address="192.0.2.1").caller.name == "li"
    with migrated.session() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "user.password_set")
        ).one()
        assert event.actor_id is None
    stored = user_named(migrated, "li").password_hash
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert "a long enough secret" not in stored


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("nobody", "a long enough secret", "unknown user 'nobody'"),
        ("li", "short", "a password needs at least 12 characters"),
        ("li", "x" * 1025, "a password has at most 1024 characters"),
        ("wu", "a long enough secret", "user 'wu' is inactive"),
    ],
    ids=["unknown", "too-short", "too-long", "inactive"],
)
def test_a_password_that_may_not_be_set_stores_nothing(
    application: Application, migrated: ZoneStores, name: str, password: str, message: str
) -> None:
    DirectoryService(application).add_user("li", UserRole.ADMIN)
    DirectoryService(application).add_user("wu", UserRole.ADMIN)
    with migrated.session() as session:
        session.scalars(select(User).where(User.name == "wu")).one().active = False
    with pytest.raises(AccountError, match=message):
        SignInService(application).set_password(name, password)
    with migrated.session() as session:
        assert session.scalars(select(User.password_hash)).all() == [None, None]
    assert "user.password_set" not in [action for action, _name in actions(migrated)]


def test_a_user_added_with_a_too_short_password_is_not_added(
    application: Application, migrated: ZoneStores
) -> None:
    with pytest.raises(AccountError, match="at least 12 characters"):
        DirectoryService(application).add_user("mei", UserRole.ADMIN, password="short")
    with migrated.session() as session:
        assert session.scalars(select(User)).all() == []
        assert session.scalars(select(AuditEvent)).all() == []
