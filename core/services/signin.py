"""Signing in to the web console: passwords, sessions and their CSRF tokens, and the limit
on failed attempts.

A session is two random tokens handed to the browser (the session's, kept in a cookie, and
its CSRF token, sent back with each form); only their SHA-256 digests are stored, as an API
token's is, so a leaked database opens no session.

The limit on failed attempts counts rows of a small table, ``sign_in_failures`` (the name
tried, the client's address, when), rather than the audit trail's ``user.sign_in_failed``
records: the trail keeps its detail as JSON, which neither SQLite nor PostgreSQL index the
same way, and a sign-in must count a name's and an address's recent failures with two
indexed queries, whatever the size of the trail. Being in the home zone, the count holds
across processes and restarts; rows older than the window are removed as failures are
added. Every failure is audited too, with the name and the address.
"""

from __future__ import annotations

import hmac
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, delete, select

from regiocrm.crm import audit
from regiocrm.crm.access import scope_of
from regiocrm.crm.accounts import (
    LAST_USED_RESOLUTION,
    MAX_PASSWORD_LENGTH,
    PASSWORDS,
    AccountError,
    hash_token,
    set_password,
)
from regiocrm.models import ConsoleSession, SignInFailure, User, UserRole
from regiocrm.models.base import utcnow
from regiocrm.platform.i18n import _
from regiocrm.platform.stores import ZonedSession
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller

# The longest user name and address a failure keeps (their columns' length): a longer name
# is no user's, and counting it by its first characters still counts every try.
KEPT_LENGTH = 100


class SignInRefused(Exception):
    """A sign-in refused: one message whatever the reason, so it tells no one which user
    names exist or which of them have a password."""

    def __init__(self) -> None:
        super().__init__(_("wrong user name or password"))


class TooManyAttempts(Exception):
    """Too many failed sign-ins for the name or from the address within the window.

    :param retry_after: seconds until the next attempt is counted again.
    """

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            _("too many failed sign-ins: try again in {seconds} seconds").format(
                seconds=retry_after
            )
        )
        self.retry_after = retry_after


@dataclass(frozen=True)
class SignedIn:
    """A new console session: its token and CSRF token, shown only now."""

    session_token: str
    csrf_token: str
    expires_at: datetime
    caller: Caller


@dataclass(frozen=True)
class Visitor:
    """The user a live console session belongs to.

    :param locale: the console language they chose, if they did.
    :param market: their home market, whose language the console falls back to.
    """

    caller: Caller
    locale: str | None
    market: str


@cache
def _dummy_hash() -> str:
    """A hash no password matches, verified against for an unknown user so that refusing
    one takes as long as refusing a wrong password."""
    return PASSWORDS.hash(secrets.token_urlsafe(32))


def _matches(password_hash: str, password: str) -> bool:
    try:
        return PASSWORDS.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class SignInService:
    """Console passwords and sessions, each method one transaction in the home zone.

    :param clock: the current time; tests pass one they move.
    """

    def __init__(self, app: Application, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.app = app
        self.clock = clock

    def set_password(self, user_name: str, password: str) -> None:
        """Set a user's console password: the operator's work, audited as the system.

        :raises AccountError: for an unknown or inactive user, or a password shorter than
            ``[console] min_password_length`` or longer than 1024 characters; nothing is
            stored.
        """
        with self.app.transaction() as session:
            user = session.scalar(select(User).where(User.name == user_name))
            if user is None:
                raise AccountError(_("unknown user {name!r}").format(name=user_name))
            set_password(
                session,
                user,
                password,
                min_length=self.app.settings.console.min_password_length,
            )

    def sign_in(self, username: str, password: str, *, address: str) -> SignedIn:
        """Open a console session for a user whose password matches.

        :param address: the client's, which the limit on failed attempts counts by.
        :raises TooManyAttempts: when the name or the address has failed too often within
            the window; the password is not even checked.
        :raises SignInRefused: for an unknown or inactive user, one with no password, or a
            wrong password; the failure is counted and audited.
        """
        now = self.clock()
        settings = self.app.settings.console
        name, address = username[:KEPT_LENGTH], address[:KEPT_LENGTH]
        with self.app.transaction() as session:
            wait = self._wait(session, name, address, now)
            if wait is not None:
                raise TooManyAttempts(wait)
            user = session.scalar(select(User).where(User.name == username))
            password_hash = user.password_hash if user is not None else None
            # No password is that long: refused before hashing megabytes someone sent.
            matches = len(password) <= MAX_PASSWORD_LENGTH and _matches(
                password_hash or _dummy_hash(), password
            )
            if (
                user is None
                or password_hash is None
                or not user.active
                or not matches
                # A provider's system posts events with its token; it has no console.
                or user.role is UserRole.TELEMATICS_PROVIDER
            ):
                self._fail(session, name, address, now, user)
                signed_in = None
            else:
                if PASSWORDS.check_needs_rehash(password_hash):
                    user.password_hash = PASSWORDS.hash(password)
                session_token, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
                console = ConsoleSession(
                    user_id=user.id,
                    token_hash=hash_token(session_token),
                    csrf_hash=hash_token(csrf_token),
                    expires_at=now + timedelta(hours=settings.session_hours),
                    last_seen_at=now,
                    address=address,
                    market=user.market,
                )
                session.add(console)
                session.flush()
                audit.record(
                    session,
                    actor_id=user.id,
                    action="user.signed_in",
                    subject_type="console_session",
                    subject=console,
                    detail={"address": address},
                )
                caller = Caller.of(user, scope_of(session, user))
                signed_in = SignedIn(session_token, csrf_token, console.expires_at, caller)
        # Raised once the transaction has kept the failure, which raising inside would undo.
        if signed_in is None:
            raise SignInRefused
        return signed_in

    def visitor(self, session_token: str) -> Visitor | None:
        """Who a console session belongs to, with their language and market; ``None`` for a
        session that is unknown, expired or ended, or of an inactive user."""
        now = self.clock()
        with self.app.transaction() as session:
            row = session.execute(
                select(ConsoleSession, User)
                .join(User, ConsoleSession.user_id == User.id)
                .where(*_live_session(session_token, now), User.active)
            ).first()
            if row is None:
                return None
            console, user = row
            # As for API tokens: recording every request would make each page read a write.
            if now - console.last_seen_at > LAST_USED_RESOLUTION:
                console.last_seen_at = now
            return Visitor(Caller.of(user, scope_of(session, user)), user.locale, user.market)

    def check_csrf(self, session_token: str, csrf_token: str) -> bool:
        """Whether ``csrf_token`` is the one issued with this live session."""
        with self.app.transaction() as session:
            console = self._live(session, session_token)
            if console is None:
                return False
            return hmac.compare_digest(console.csrf_hash, hash_token(csrf_token))

    def sign_out(self, session_token: str) -> None:
        """End a console session, audited as its user's; one already ended or unknown is
        left as it is."""
        with self.app.transaction() as session:
            console = self._live(session, session_token)
            if console is None:
                return
            console.ended_at = self.clock()
            audit.record(
                session,
                actor_id=console.user_id,
                action="user.signed_out",
                subject_type="console_session",
                subject=console,
            )

    def _live(self, session: ZonedSession, session_token: str) -> ConsoleSession | None:
        return session.scalar(
            select(ConsoleSession).where(*_live_session(session_token, self.clock()))
        )

    def _window(self) -> timedelta:
        return timedelta(minutes=self.app.settings.console.attempt_window_minutes)

    def _wait(self, session: ZonedSession, name: str, address: str, now: datetime) -> int | None:
        """Seconds until the name and the address may try again, or ``None`` when both
        may now."""
        limit, window = self.app.settings.console.max_failed_attempts, self._window()
        waits = []
        for column, value in ((SignInFailure.name, name), (SignInFailure.address, address)):
            failures = session.scalars(
                select(SignInFailure.failed_at)
                .where(column == value, SignInFailure.failed_at > now - window)
                .order_by(SignInFailure.failed_at)
            ).all()
            if len(failures) >= limit:
                # Once the oldest failures beyond the limit's last leave the window.
                waits.append(failures[len(failures) - limit] + window - now)
        if not waits:
            return None
        return max(1, math.ceil(max(waits).total_seconds()))

    def _fail(
        self, session: ZonedSession, name: str, address: str, now: datetime, user: User | None
    ) -> None:
        session.execute(
            delete(SignInFailure).where(SignInFailure.failed_at <= now - self._window())
        )
        failure = SignInFailure(
            name=name,
            address=address,
            failed_at=now,
            market=user.market if user else self.app.settings.deployment.market,
        )
        session.add(failure)
        session.flush()
        audit.record(
            session,
            actor_id=None,
            action="user.sign_in_failed",
            subject_type="sign_in_failure",
            subject=failure,
            detail={"name": name, "address": address}
            | ({"user_id": user.id} if user is not None else {}),
        )


def _live_session(session_token: str, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """The conditions of the session a token opened, while it is live: not ended, not
    expired."""
    return (
        ConsoleSession.token_hash == hash_token(session_token),
        ConsoleSession.ended_at.is_(None),
        ConsoleSession.expires_at > now,
    )
