"""Organizations, users, their API tokens and their console passwords.

Tokens are random, shown once and stored only as a SHA-256 digest: a leaked database does
not leak a usable token, and a token's high entropy makes a slow hash unnecessary. A
password, chosen by a person, has little entropy: it is stored as an argon2id hash
(argon2-cffi's defaults, RFC 9106's second recommended profile), slow to guess by design.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from regiocrm.crm import audit
from regiocrm.crm.addresses import NewAddress, address_parts
from regiocrm.interfaces.calendars import iso_subdivisions, subdivision_code
from regiocrm.interfaces.formats import validated_address
from regiocrm.interfaces.maps import Datum, Point
from regiocrm.models import (
    ApiToken,
    LicenceTier,
    Organization,
    OrganizationAddress,
    OrganizationKind,
    User,
    UserRole,
)
from regiocrm.models.base import utcnow
from regiocrm.platform.i18n import _

TOKEN_PREFIX = "rcm_"  # noqa: S105 - a marker that lets secret scanners spot leaked tokens
# Recording every use would turn each authenticated read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=5)

DEFAULT_TIER = {
    OrganizationKind.OEM: LicenceTier.FULL,
    OrganizationKind.WHOLESALER: LicenceTier.FULL,
    OrganizationKind.CALL_CENTRE: LicenceTier.FULL,
    OrganizationKind.DEALER: LicenceTier.COMMUNITY,
    OrganizationKind.PARTNER: LicenceTier.COMMUNITY,
}


class AccountError(Exception):
    """An account operation that cannot be done as asked; nothing was stored."""


class UnknownOrganization(AccountError):
    pass


class PasswordRefused(AccountError):
    """A password that may not be set (too short, too long, for an inactive user)."""


# A longer one buys no security and lets a caller make the hash work on megabytes.
MAX_PASSWORD_LENGTH = 1024
PASSWORDS = PasswordHasher()


@dataclass(frozen=True)
class NewUser:
    user: User
    organization: Organization
    token: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def organization_named(session: Session, name: str) -> Organization | None:
    return session.scalar(select(Organization).where(Organization.name == name))


def create_organization(
    session: Session,
    *,
    name: str,
    kind: OrganizationKind,
    market: str,
    parent: str | None = None,
    licence_tier: LicenceTier | None = None,
    address: str | None = None,
    location: Point | None = None,
    subdivision: str | None = None,
    actor: User | None = None,
) -> Organization:
    """Add an organization; the licence tier defaults to what its kind usually holds.

    :param location: where it is, in WGS-84 (dealers with one receive leads).
    :param subdivision: its ISO 3166-2 subdivision of ``market`` (``NSW``, ``nsw`` or
        ``AU-NSW``), whose public holidays its clocks keep.
    """
    if not name.strip():
        raise AccountError(_("an organization needs a name that is not blank"))
    if location is not None and location.datum is not Datum.WGS84:
        raise AccountError(f"an organization's location is stored in WGS-84, not {location.datum}")
    if subdivision is not None:
        subdivision = subdivision_in(market, subdivision)
    if organization_named(session, name) is not None:
        raise AccountError(_("organization {name!r} already exists").format(name=name))
    parent_org = None
    if parent is not None:
        parent_org = organization_named(session, parent)
        if parent_org is None:
            raise AccountError(_("unknown parent organization {name!r}").format(name=parent))
    org = Organization(
        name=name,
        kind=kind,
        market=market,
        parent_id=parent_org.id if parent_org else None,
        licence_tier=licence_tier or DEFAULT_TIER[kind],
        address=address,
        latitude=location.lat if location else None,
        longitude=location.lon if location else None,
        subdivision=subdivision,
    )
    session.add(org)
    session.flush()
    _audit(
        session, actor, "organization.created", "organization", org, {"name": name, "kind": kind}
    )
    return org


def subdivision_in(market: str, value: str) -> str:
    """The ISO 3166-2 code suffix ``value`` names in ``market``.

    :raises AccountError: naming the market's subdivisions, for one it does not have.
    """
    code = subdivision_code(market, value)
    if code is not None:
        return code
    known = iso_subdivisions(market)
    if not known:
        raise AccountError(
            _("{value!r}: ISO 3166-2 divides {market} into no subdivisions").format(
                value=value, market=market
            )
        )
    raise AccountError(
        _("{value!r} is not an ISO 3166-2 subdivision of {market}: it has {known}").format(
            value=value, market=market, known=", ".join(known)
        )
    )


def clock_subdivision(session: Session, organization_id: uuid.UUID, market: str) -> str | None:
    """The subdivision whose public holidays the clocks of an organization's work in
    ``market`` keep: its own, when it is in that market.

    :raises AccountError: for no such organization.
    """
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise AccountError(_("unknown organization {id}").format(id=organization_id))
    return organization.subdivision if organization.market == market else None


def create_user(
    session: Session,
    *,
    name: str,
    role: UserRole,
    organization: Organization,
    actor: User | None = None,
) -> NewUser:
    """Add a user to an organization and issue its first API token."""
    if not name.strip():
        raise AccountError(_("a user needs a login name that is not blank"))
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise AccountError(_("user {name!r} already exists").format(name=name))
    user = User(name=name, role=role, organization_id=organization.id, market=organization.market)
    session.add(user)
    session.flush()
    _audit(session, actor, "user.created", "user", user, {"name": name, "role": role})
    return NewUser(user, organization, issue_token(session, user, actor=actor))


def issue_token(
    session: Session, user: User, *, label: str = "cli", actor: User | None = None
) -> str:
    """A new bearer token for ``user``; only its digest is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    api_token = ApiToken(
        user_id=user.id, token_hash=hash_token(token), label=label, market=user.market
    )
    session.add(api_token)
    session.flush()
    _audit(
        session,
        actor,
        "token.issued",
        "user",
        user,
        {"token_id": str(api_token.id), "label": label},
    )
    return token


def set_password(
    session: Session, user: User, password: str, *, min_length: int, actor: User | None = None
) -> None:
    """Store the argon2id hash of ``user``'s new console password; audited as
    ``user.password_set`` (the password appears nowhere).

    :raises PasswordRefused: for an inactive user, or a password shorter than
        ``min_length`` or longer than :data:`MAX_PASSWORD_LENGTH`; nothing is stored.
    """
    if not user.active:
        raise PasswordRefused(
            _("user {name!r} is inactive: a password is set only for an active user").format(
                name=user.name
            )
        )
    if len(password) < min_length:
        raise PasswordRefused(
            _("a password needs at least {count} characters").format(count=min_length)
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRefused(
            _("a password has at most {count} characters").format(count=MAX_PASSWORD_LENGTH)
        )
    user.password_hash = PASSWORDS.hash(password)
    session.flush()
    _audit(session, actor, "user.password_set", "user", user, {"name": user.name})


def authenticate(session: Session, token: str) -> User | None:
    """The active user a bearer token belongs to, or ``None``."""
    row = session.execute(
        select(ApiToken, User)
        .join(User, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None), User.active)
    ).first()
    if row is None:
        return None
    api_token, user = row
    now = utcnow()
    if api_token.last_used_at is None or now - api_token.last_used_at > LAST_USED_RESOLUTION:
        api_token.last_used_at = now
    return user


def set_organization_address(
    session: Session, org: Organization, new: NewAddress, *, actor: User | None = None
) -> OrganizationAddress:
    """Make ``new`` the organization's address of its kind, in place of the one it had.

    :raises regiocrm.interfaces.formats.InvalidAddress: for an address its country's data
        refuses, naming the part and why; nothing is changed.
    """
    checked = NewAddress(validated_address(new.address, org.market), new.kind)
    for old in session.scalars(
        select(OrganizationAddress).where(
            OrganizationAddress.organization_id == org.id, OrganizationAddress.kind == new.kind
        )
    ):
        session.delete(old)
    row = OrganizationAddress(market=org.market, organization_id=org.id, **address_parts(checked))
    session.add(row)
    session.flush()
    _audit(session, actor, "organization.address_set", "organization", org, {"kind": new.kind})
    return row


def organization_addresses(session: Session, org: Organization) -> list[OrganizationAddress]:
    """The organization's addresses, by kind."""
    return list(
        session.scalars(
            select(OrganizationAddress)
            .where(OrganizationAddress.organization_id == org.id)
            .order_by(OrganizationAddress.kind)
        )
    )


def _audit(
    session: Session,
    actor: User | None,
    action: str,
    subject_type: str,
    subject: Organization | User,
    detail: dict[str, object],
) -> None:
    audit.record(
        session,
        actor_id=actor.id if actor else None,
        action=action,
        subject_type=subject_type,
        subject=subject,
        detail=detail,
    )
