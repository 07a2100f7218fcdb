"""The directory for front ends: organizations, users and their API tokens, kept in the
home zone (:mod:`regiocrm.crm.accounts` makes them and audits each)."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, fields
from typing import Any, Self

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from regiocrm.crm.access import Forbidden
from regiocrm.crm.accounts import (
    AccountError,
    create_organization,
    create_user,
    organization_addresses,
    organization_named,
    set_organization_address,
    set_password,
)
from regiocrm.crm.addresses import NewAddress, address_of
from regiocrm.geo.chain import Located
from regiocrm.interfaces.formats import Address
from regiocrm.interfaces.maps import Point
from regiocrm.interfaces.terms import LicenceTier, OrganizationKind, UserRole
from regiocrm.models import ApiToken, Organization, OrganizationAddress, User
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import CATALOG_LOCALES, _
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller


@dataclass(frozen=True)
class NewOrganization:
    """An organization to add.

    :param licence_tier: ``None`` for what its kind usually holds.
    :param location: where it is, in WGS-84; a dealer with one receives the leads nearest.
    :param subdivision: its ISO 3166-2 subdivision of ``market``, whose public holidays its
        clocks keep.
    """

    name: str
    kind: OrganizationKind
    market: str
    parent: str | None = None
    licence_tier: LicenceTier | None = None
    address: str | None = None
    location: Point | None = None
    subdivision: str | None = None


@dataclass(frozen=True)
class OrganizationView:
    """An organization as front ends list it, its parent by name."""

    id: uuid.UUID
    name: str
    kind: OrganizationKind
    market: str
    subdivision: str | None
    licence_tier: LicenceTier
    parent: str | None
    active: bool
    address: str | None
    lat: float | None
    lon: float | None

    @classmethod
    def of(cls, org: Organization, parent: str | None) -> OrganizationView:
        return cls(
            org.id,
            org.name,
            org.kind,
            org.market,
            org.subdivision,
            org.licence_tier,
            parent,
            org.active,
            org.address,
            org.latitude,
            org.longitude,
        )

    @property
    def where(self) -> str:
        """Its market, with its subdivision when it has one (``AU-NSW``)."""
        return self.market if self.subdivision is None else f"{self.market}-{self.subdivision}"

    def as_json(self) -> dict[str, Any]:
        """The id as a string, enums as their values."""
        return {field.name: _json(getattr(self, field.name)) for field in fields(self)}


@dataclass(frozen=True)
class OrganizationAddressView:
    """One of an organization's addresses, in parts and as its country writes it, in its
    own script and in latin script."""

    organization: str
    kind: str
    parts: Address
    written: str
    written_latin: str

    @classmethod
    def of(cls, hooks: Hooks, organization: str, row: OrganizationAddress) -> Self:
        parts = address_of(row)
        return cls(
            organization,
            row.kind,
            parts,
            hooks.format_address(address=parts, market=row.market),
            hooks.format_address(address=parts, market=row.market, latin=True),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "organization": self.organization,
            "kind": self.kind,
            **asdict(self.parts),
            "formatted": self.written,
            "formatted_latin": self.written_latin,
        }


@dataclass(frozen=True)
class UserView:
    """A user as front ends list them: their organization by name and how many live API
    tokens they hold."""

    id: uuid.UUID
    name: str
    role: UserRole
    organization: str
    active: bool
    tokens: int

    def as_json(self) -> dict[str, Any]:
        """The id as a string, the role as its value."""
        return {field.name: _json(getattr(self, field.name)) for field in fields(self)}


@dataclass(frozen=True)
class NewAccount:
    """A user just added, and their first API token: shown once, only its digest is kept."""

    user: UserView
    token: str


@dataclass(frozen=True)
class Me:
    """The calling user and their organization, as ``/api/me`` answers."""

    id: uuid.UUID
    name: str
    role: UserRole
    organization: OrganizationView

    def as_json(self) -> dict[str, Any]:
        org = self.organization
        return {
            "id": str(self.id),
            "name": self.name,
            "role": self.role.value,
            "organization": {
                "id": str(org.id),
                "name": org.name,
                "kind": org.kind.value,
                "market": org.market,
                "subdivision": org.subdivision,
            },
        }


def _json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, OrganizationKind | LicenceTier | UserRole):
        return value.value
    return value


class DirectoryService:
    """Organizations and users: each method one transaction, committed before it returns.

    Adding and listing is the deployment operator's work (the CLI, audited as the system);
    a signed-in caller reads only their own entry.
    """

    def __init__(self, app: Application) -> None:
        self.app = app

    def locate(self, address: str, market: str) -> Located:
        """Where an address is, from the market's map chain (an organization's location).

        :raises regiocrm.geo.chain.NotLocated: naming each provider's reason.
        """
        return self.app.maps.geocode(address, market)

    def add_organization(self, new: NewOrganization) -> OrganizationView:
        """Add an organization; its licence tier defaults to what its kind usually holds.

        :raises AccountError: for a blank or taken name, an unknown parent, a subdivision
            the market does not have or a location not in WGS-84; nothing is stored.
        """
        with self.app.transaction() as session:
            org = create_organization(
                session,
                name=new.name,
                kind=new.kind,
                market=new.market,
                parent=new.parent,
                licence_tier=new.licence_tier,
                address=new.address,
                location=new.location,
                subdivision=new.subdivision,
            )
            return OrganizationView.of(org, new.parent)

    def set_address(self, organization: str, new: NewAddress) -> OrganizationAddressView:
        """Make ``new`` the organization's address of its kind (its ``postal`` address, its
        ``billing`` address…), in place of the one it had. Audited as the system.

        :raises AccountError: for an unknown organization.
        :raises regiocrm.interfaces.formats.InvalidAddress: for an address its country's
            data refuses, naming the part and why; nothing is changed.
        """
        with self.app.transaction() as session:
            org = self._named(session, organization)
            row = set_organization_address(session, org, new)
            return OrganizationAddressView.of(self.app.hooks, org.name, row)

    def addresses(self, organization: str) -> list[OrganizationAddressView]:
        """The organization's addresses, by kind, each also as its country writes it.

        :raises AccountError: for an unknown organization.
        """
        with self.app.transaction() as session:
            org = self._named(session, organization)
            return [
                OrganizationAddressView.of(self.app.hooks, org.name, row)
                for row in organization_addresses(session, org)
            ]

    @staticmethod
    def _named(session: Session, name: str) -> Organization:
        org = organization_named(session, name)
        if org is None:
            raise AccountError(_("unknown organization {org!r}").format(org=name))
        return org

    def organizations(self) -> list[OrganizationView]:
        """Every organization, by name."""
        with self.app.transaction() as session:
            orgs = session.scalars(select(Organization).order_by(Organization.name)).all()
            names = {org.id: org.name for org in orgs}
            return [
                OrganizationView.of(org, names.get(org.parent_id) if org.parent_id else None)
                for org in orgs
            ]

    def add_user(
        self,
        name: str,
        role: UserRole,
        organization: str | None = None,
        *,
        password: str | None = None,
    ) -> NewAccount:
        """Add a user and issue their first API token. By default they join the
        deployment's own organization, which is added (as the OEM) if it is not yet.

        :param password: their console password, if they are to sign in there.
        :raises AccountError: for a blank or taken name, an unknown organization or a
            password too short or too long; nothing is stored.
        """
        deployment = self.app.settings.deployment
        with self.app.transaction() as session:
            org = organization_named(session, organization or deployment.organization)
            if org is None and organization is not None:
                raise AccountError(
                    _(
                        "unknown organization {org!r}: add it with"
                        " `regiocrm orgs add {org!r} --kind dealer --market {market}`"
                    ).format(org=organization, market=deployment.market)
                )
            if org is None:
                org = create_organization(
                    session,
                    name=deployment.organization,
                    kind=OrganizationKind.OEM,
                    market=deployment.market,
                )
            created = create_user(session, name=name, role=role, organization=org)
            user = created.user
            if password is not None:
                set_password(
                    session,
                    user,
                    password,
                    min_length=self.app.settings.console.min_password_length,
                )
            view = UserView(user.id, user.name, user.role, org.name, user.active, tokens=1)
            return NewAccount(view, created.token)

    def users(self) -> list[UserView]:
        """Every user, by name, with their organization and live tokens."""
        live_tokens = (
            select(func.count(ApiToken.id))
            .where(ApiToken.user_id == User.id, ApiToken.revoked_at.is_(None))
            .scalar_subquery()
        )
        with self.app.transaction() as session:
            result = session.execute(
                select(User, Organization.name, live_tokens)
                .join(Organization, User.organization_id == Organization.id)
                .order_by(User.name)
            )
            return [
                UserView(user.id, user.name, user.role, org_name, user.active, tokens)
                for user, org_name, tokens in result
            ]

    def me(self, caller: Caller) -> Me:
        """The caller's own entry, with their organization."""
        organization_id, user_id = caller.organization, caller.user_id
        if user_id is None:
            raise Forbidden("the system has no entry of its own")
        with self.app.transaction() as session:
            org = session.get_one(Organization, organization_id)
            parent = session.get(Organization, org.parent_id) if org.parent_id else None
            organization = OrganizationView.of(org, parent.name if parent else None)
            return Me(user_id, caller.name, caller.role, organization)

    def set_language(self, caller: Caller, locale: str | None) -> None:
        """Set the console language the caller chose; ``None`` goes back to their browser's.

        :raises AccountError: for a language the console is not translated into; nothing is
            stored.
        """
        if locale is not None and locale not in CATALOG_LOCALES:
            raise AccountError(
                _("{locale!r} is not a console language; choose one of: {choices}").format(
                    locale=locale, choices=", ".join(CATALOG_LOCALES)
                )
            )
        if caller.user_id is None:
            raise Forbidden("the system has no entry of its own")
        with self.app.transaction() as session:
            session.get_one(User, caller.user_id).locale = locale
