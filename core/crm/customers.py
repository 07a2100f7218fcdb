"""One customer, recognised everywhere: identity resolution and merges.

An identity (a phone number, a WeChat OpenID, a LINE user id…) belongs to exactly one
customer. A new identity finds its customer or creates one; an identity that proves two
customer records to be one person merges them. The survivor (the older record) takes
every identity; the other record points to it with ``merged_into_id``, and its consents
and timeline entries, which are append-only, are read through the survivor from then on.
Merges are flattened: nothing ever points to a record that itself points elsewhere.

A user merges only records they see, both of them (their :class:`~regiocrm.crm.access.Scope`);
otherwise the merge is refused, naming no customer, and the refusal is audited. The system
(an inbound message proving two records one person) merges whatever it must.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import String, any_, bindparam, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from regiocrm.crm import audit
from regiocrm.crm.access import Scope, scoped_customers, sees
from regiocrm.crm.addresses import NewAddress, address_parts, checked_addresses
from regiocrm.interfaces.channels import IdentityRef
from regiocrm.interfaces.formats import PersonName
from regiocrm.interfaces.identities import InvalidIdentity
from regiocrm.models import (
    Consent,
    ConsentAction,
    Customer,
    CustomerKind,
    Identity,
    PostalAddress,
)
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.stores import ZonedSession, after_commit

log = logging.getLogger(__name__)


_HOLDERS = (
    select(Identity.kind, Identity.value, Identity.customer_id, Customer.market)
    .outerjoin(Customer, Customer.id == Identity.customer_id)
    .where(tuple_(Identity.kind, Identity.value).in_(bindparam("identities", expanding=True)))
)
# A batch's identities of one kind, as one array parameter (PostgreSQL) or one JSON text
# (SQLite): a statement whose text does not grow with the batch, which the database parses
# and plans once, where an expanding ``IN`` of thousands of pairs is rendered and parsed
# again for every batch.
_HOLDERS_BY_KIND = (
    select(Identity.kind, Identity.value, Identity.customer_id, Customer.market)
    .outerjoin(Customer, Customer.id == Identity.customer_id)
    .where(Identity.kind == bindparam("kind"))
)
_HOLDERS_IN_ARRAY = _HOLDERS_BY_KIND.where(
    Identity.value == any_(bindparam("values", type_=ARRAY(String)))
)
_JSON_VALUES = func.json_each(bindparam("values", type_=String)).table_valued("value")
_HOLDERS_IN_JSON = _HOLDERS_BY_KIND.where(Identity.value.in_(select(_JSON_VALUES.c.value)))
_MARKETS = select(Customer.id, Customer.market).where(
    Customer.id.in_(bindparam("ids", expanding=True))
)


def consent_in_force(
    session: Session, merge_set: Sequence[uuid.UUID], purpose: str, channel: str
) -> uuid.UUID | None:
    """The grant in force for ``purpose`` on ``channel`` (or on every channel, ``*``): the
    latest entry of the customer's merge set, if it is a grant; ``None`` otherwise."""
    latest = session.execute(
        Consent.latest(purpose, channel, Consent.id, Consent.action).where(
            Consent.customer_id.in_(merge_set)
        )
    ).first()
    return latest.id if latest is not None and latest.action is ConsentAction.GRANT else None


class CustomerError(Exception):
    """A customer operation that cannot be done as asked; nothing was stored."""


class UnknownCustomer(CustomerError):
    pass


class IdentityTaken(CustomerError):
    """The identity already belongs to another customer, named only to a caller who sees
    them (``owner_id`` is ``None`` otherwise)."""

    def __init__(self, identity: IdentityRef, owner_id: uuid.UUID | None) -> None:
        owner = "a customer you may not see" if owner_id is None else f"customer {owner_id}"
        super().__init__(f"identity {identity} already belongs to {owner}")
        self.identity = identity
        self.owner_id = owner_id


class MergeRefused(CustomerError):
    """A merge the caller may not make: the other record is one they do not see. The
    message names no customer; the refusal is recorded in the session's audit trail, to be
    committed although nothing else is."""


@dataclass(frozen=True)
class NewCustomer:
    """What a new customer record is given: names in parts, never joined."""

    market: str
    kind: CustomerKind = CustomerKind.PERSON
    family_name: str | None = None
    given_name: str | None = None
    family_name_phonetic: str | None = None
    given_name_phonetic: str | None = None
    company_name: str | None = None
    preferred_locale: str | None = None


@dataclass(frozen=True)
class NewConsent:
    """A consent grant or withdrawal, for a purpose on a channel (``*``: every channel)."""

    purpose: str
    channel: str = "*"
    action: ConsentAction = ConsentAction.GRANT
    source: str | None = None


@dataclass(frozen=True)
class Owner:
    """The customer an identity belongs to, as much as the hot path needs of it."""

    id: uuid.UUID
    market: str


@dataclass
class Resolution:
    """Who an identity set belongs to, and what resolving it changed.

    :param customer_id: the customer (the survivor, after a merge).
    :param market: that customer's home market, which places the rows written for them.
    """

    customer_id: uuid.UUID
    market: str
    created: bool = False
    merged: list[uuid.UUID] = field(default_factory=list)


class Customers:
    """Customer operations inside one session; the caller commits.

    Event hooks (``customer_merged``) fire only once the session commits.
    """

    def __init__(self, session: ZonedSession, hooks: Hooks) -> None:
        self.session = session
        self.hooks = hooks

    # lookups

    def get(self, customer_id: uuid.UUID) -> Customer:
        """The customer, or the survivor it was merged into.

        :raises UnknownCustomer: when there is no such customer.
        """
        customer = self.session.get(Customer, customer_id)
        if customer is None:
            raise UnknownCustomer(f"no customer {customer_id}")
        if customer.merged_into_id is not None:
            return self.session.get_one(Customer, customer.merged_into_id)
        return customer

    def visible(self, customer_id: uuid.UUID, scope: Scope | None) -> Customer:
        """The customer (or the survivor it was merged into), if ``scope`` sees it; ``None``
        is the system, which sees every customer.

        :raises regiocrm.crm.access.Forbidden: for a role that reads no customer data.
        :raises UnknownCustomer: for no such customer, and alike for one outside the scope:
            the caller learns nothing of it.
        """
        if scope is not None:
            scope.require_customers()
        customer = self.get(customer_id)
        if scope is not None and not sees(self.session, scope, customer):
            raise UnknownCustomer(f"no customer {customer_id}")
        return customer

    def merge_set(self, survivor_id: uuid.UUID) -> list[uuid.UUID]:
        """The survivor's id and the ids of every record merged into it: their timeline
        entries and consents are the survivor's."""
        merged = self.session.scalars(
            select(Customer.id).where(Customer.merged_into_id == survivor_id)
        )
        return [survivor_id, *merged]

    def display_name(self, customer: Customer) -> str | None:
        """The customer's name as their market writes it (a company's name for a company);
        ``None`` for a customer known by no name yet."""
        name = PersonName(
            customer.family_name,
            customer.given_name,
            customer.family_name_phonetic,
            customer.given_name_phonetic,
        )
        return (
            customer.company_name
            or self.hooks.format_name(name=name, market=customer.market)
            or None
        )

    def addresses(self, customer_id: uuid.UUID) -> list[PostalAddress]:
        """The customer's addresses, by kind, oldest first."""
        return list(
            self.session.scalars(
                select(PostalAddress)
                .where(PostalAddress.customer_id == customer_id)
                .order_by(PostalAddress.kind, PostalAddress.id)
            )
        )

    def replace_addresses(
        self, customer: Customer, addresses: Sequence[NewAddress], *, actor_id: uuid.UUID | None
    ) -> list[PostalAddress]:
        """Make ``addresses`` the customer's addresses, in place of those they had.

        :raises InvalidAddress: for an address its country's data refuses; nothing is
            changed.
        """
        checked = checked_addresses(addresses, customer.market)
        for row in self.addresses(customer.id):
            self.session.delete(row)
        self._add_addresses(customer, checked)
        audit.record(
            self.session,
            actor_id=actor_id,
            action="customer.addresses_replaced",
            subject_type="customer",
            subject=customer,
            detail={"addresses": len(checked)},
        )
        return self.addresses(customer.id)

    def _add_addresses(self, customer: Customer, addresses: Iterable[NewAddress]) -> None:
        for new in addresses:
            self.session.add(
                PostalAddress(market=customer.market, customer_id=customer.id, **address_parts(new))
            )
        self.session.flush()

    def identities(self, customer_id: uuid.UUID) -> list[Identity]:
        return list(
            self.session.scalars(
                select(Identity)
                .where(Identity.customer_id == customer_id)
                .order_by(Identity.kind, Identity.value)
            )
        )

    def normalize(self, identities: Iterable[IdentityRef], market: str) -> list[IdentityRef]:
        """Each identity in its canonical form, duplicates dropped.

        :raises regiocrm.interfaces.identities.InvalidIdentity: naming the value refused and why.
        """
        normalized = []
        for identity in identities:
            canonical = self.hooks.normalize_identity(
                kind=identity.kind, value=identity.value, market=market
            )
            normalized.append(IdentityRef(canonical.kind, canonical.value))
        return list(dict.fromkeys(normalized))

    def listing(self, scope: Scope, *, after: uuid.UUID | None, limit: int) -> list[Customer]:
        """The first ``limit`` customers the scope sees by id (merged records left out),
        after the id ``after``.

        :raises regiocrm.crm.access.Forbidden: for a role that reads no customer data.
        """
        query = select(Customer).where(Customer.merged_into_id.is_(None)).order_by(Customer.id)
        if after is not None:
            query = query.where(Customer.id > after)
        # One statement per market for a partner: each ordered by id, merged here.
        statements = scoped_customers(self.session, scope, query.limit(limit))
        found = [
            customer for statement in statements for customer in self.session.scalars(statement)
        ]
        return sorted(found, key=lambda customer: customer.id)[:limit]

    def find(self, identity: IdentityRef, market: str) -> Customer | None:
        """The customer an identity belongs to (normalised in ``market`` first)."""
        [canonical] = self.normalize([identity], market)
        owner = self._owners([canonical]).get(canonical)
        return None if owner is None else self.get(owner.id)

    # changes

    def add_consents(self, customer: Customer, consents: Iterable[NewConsent]) -> None:
        """Append consent entries for the customer; the latest per purpose and channel
        holds."""
        for consent in consents:
            self.session.add(
                Consent(
                    market=customer.market,
                    customer_id=customer.id,
                    purpose=consent.purpose,
                    channel=consent.channel,
                    action=consent.action,
                    source=consent.source,
                )
            )

    def create(
        self,
        details: NewCustomer,
        identities: Sequence[IdentityRef] = (),
        *,
        actor_id: uuid.UUID | None = None,
        verified: bool = False,
        scope: Scope | None = None,
        addresses: Sequence[NewAddress] = (),
    ) -> Customer:
        """A new customer with its identities and addresses, registered by a user of
        ``scope`` (``None``: the system).

        :raises IdentityTaken: when one of them already belongs to a customer, named if
            ``scope`` sees them.
        :raises InvalidAddress: for an address its country's data refuses.
        """
        canonical = self.normalize(identities, details.market)
        checked = checked_addresses(addresses, details.market)
        for identity, owner in self._claimed(canonical, details.market).items():
            raise IdentityTaken(identity, owner.id if self._sees(scope, owner.id) else None)
        customer = Customer(**vars(details))
        self.session.add(customer)
        self.session.flush()
        self._add_identities(Owner(customer.id, customer.market), canonical, verified=verified)
        self._add_addresses(customer, checked)
        audit.record(
            self.session,
            actor_id=actor_id,
            action="customer.created",
            subject_type="customer",
            subject=customer,
            personal={"identities": ", ".join(map(str, canonical))},
        )
        return customer

    def resolve(self, identities: Sequence[IdentityRef], market: str) -> Resolution:
        """The customer these identities belong to: found, created in ``market``, or the
        survivor of a merge when they belong to several.

        The first identity is the one the channel knows the sender by and must be valid.
        The others are what the provider vouches for besides (a WhatsApp sender's phone
        number): one that does not normalise is left out rather than losing the message.

        :raises regiocrm.interfaces.identities.InvalidIdentity: when the first identity is invalid.
        """
        canonical = self._sender(identities, market)
        return self._resolved(canonical, market, self._owners(canonical))

    def resolve_many(
        self, senders: Sequence[tuple[Sequence[IdentityRef], str]]
    ) -> list[Resolution]:
        """:meth:`resolve` for each of ``senders`` (identities and market) in turn, as a
        batch of inbound messages needs it: the identities of all are looked up at once,
        and only a sender who is new, or whose identities belong to several customers,
        costs more queries.

        :raises regiocrm.interfaces.identities.InvalidIdentity: when a sender's first
            identity is invalid.
        """
        wanted = [self._sender(identities, market) for identities, market in senders]
        known = self._owners(list(dict.fromkeys(i for canonical in wanted for i in canonical)))
        resolutions = []
        for canonical, (_identities, market) in zip(wanted, senders, strict=True):
            owners = {identity: known[identity] for identity in canonical if identity in known}
            if len(owners) == len(canonical) and len(set(owners.values())) == 1:
                owner = owners[canonical[0]]
                resolutions.append(Resolution(owner.id, owner.market))
                continue
            resolution = self._resolved(canonical, market, owners)
            resolutions.append(resolution)
            # What this one created or merged is how the next messages find their senders.
            survivor = Owner(resolution.customer_id, resolution.market)
            known = {
                identity: survivor if owner.id in resolution.merged else owner
                for identity, owner in known.items()
            }
            known.update(dict.fromkeys(canonical, survivor))
        return resolutions

    def _sender(self, identities: Sequence[IdentityRef], market: str) -> list[IdentityRef]:
        """A sender's identities, normalised, without repeats; a vouched one that does not
        normalise is left out."""
        primary, *vouched = identities
        canonical = self.normalize([primary], market)
        for identity in vouched:
            try:
                canonical += self.normalize([identity], market)
            except InvalidIdentity as exc:
                log.warning("identity left out: %s", exc)
        return list(dict.fromkeys(canonical))

    def _resolved(
        self, canonical: list[IdentityRef], market: str, owners: dict[IdentityRef, Owner]
    ) -> Resolution:
        """The customer of a sender's identities whose ``owners`` are known: created, found,
        or merged into one."""
        if not owners:
            customer = Customer(market=market)
            self.session.add(customer)
            self.session.flush()
            self._add_identities(Owner(customer.id, market), canonical, verified=False)
            return Resolution(customer.id, market, created=True)
        survivor, *others = sorted(set(owners.values()), key=lambda owner: owner.id)
        resolution = Resolution(survivor.id, survivor.market)
        for other in others:
            shared = ", ".join(str(i) for i, owner in owners.items() if owner == other)
            resolution.merged.append(other.id)
            self._merge(survivor.id, other.id, reason=f"message from {shared}", actor_id=None)
        self._add_identities(survivor, [i for i in canonical if i not in owners], verified=False)
        return resolution

    def bind(
        self,
        customer_id: uuid.UUID,
        identity: IdentityRef,
        *,
        actor_id: uuid.UUID | None,
        scope: Scope | None,
        verified: bool = True,
    ) -> Resolution:
        """Attach an identity to a customer, as an agent confirms it; where it already
        belongs to another customer, the two are one person and merge. The user (of
        ``scope``; ``None``: the system) must see both.

        :raises UnknownCustomer: for no such customer, or one outside the scope.
        :raises MergeRefused: when the identity belongs to a customer outside the scope.
        """
        customer = self.visible(customer_id, scope)
        [canonical] = self.normalize([identity], customer.market)
        owner = self._claimed([canonical], customer.market).get(canonical)
        resolution = Resolution(customer.id, customer.market)
        if owner is not None and owner.id != customer.id:
            if not self._sees(scope, owner.id):
                raise self._refused(
                    customer,
                    f"identity {canonical} belongs to a customer you may not see:"
                    " it was not bound and no records were merged",
                    actor_id=actor_id,
                    personal={"identity": canonical, "other": owner.id},
                )
            survivor, merged = sorted([customer.id, owner.id])
            self._merge(
                survivor, merged, reason=f"identity {canonical} bound by a user", actor_id=actor_id
            )
            kept = self.get(survivor)
            resolution = Resolution(kept.id, kept.market, merged=[merged])
        if canonical not in self._owners([canonical]):
            self._add_identities(
                Owner(resolution.customer_id, resolution.market), [canonical], verified=verified
            )
        elif verified:
            # An identity the customer already held (or the merged record did), now
            # confirmed by the user.
            self.session.execute(
                update(Identity)
                .where(Identity.kind == canonical.kind, Identity.value == canonical.value)
                .values(verified=True)
            )
        audit.record(
            self.session,
            actor_id=actor_id,
            action="identity.bound",
            subject_type="customer",
            subject=self.get(resolution.customer_id),
            personal={"identity": str(canonical)},
        )
        return resolution

    def merge(
        self,
        survivor_id: uuid.UUID,
        merged_id: uuid.UUID,
        *,
        reason: str,
        actor_id: uuid.UUID | None = None,
        scope: Scope | None,
    ) -> Customer:
        """Make ``merged_id`` a pointer to ``survivor_id``, which takes its identities; a
        record already merged stands for its survivor. The user (of ``scope``; ``None``:
        the system) must see both.

        :raises UnknownCustomer: when the survivor is unknown or outside the scope, or
            the system names no other.
        :raises MergeRefused: when the other record is outside the scope, and alike when
            a user names none.
        :raises CustomerError: when they are the same customer.
        """
        survivor = self.visible(survivor_id, scope)
        try:
            merged = self.visible(merged_id, scope)
        except UnknownCustomer:
            if scope is None:
                raise
            raise self._refused(
                survivor,
                "the other record is not a customer you may see: no records were merged",
                actor_id=actor_id,
                personal={"other": merged_id},
            ) from None
        return self._merge(survivor.id, merged.id, reason=reason, actor_id=actor_id)

    def _merge(
        self,
        survivor_id: uuid.UUID,
        merged_id: uuid.UUID,
        *,
        reason: str,
        actor_id: uuid.UUID | None,
    ) -> Customer:
        """The merge itself, of two survivors, with no question of scope."""
        survivor, merged = self.get(survivor_id), self.get(merged_id)
        if survivor.id == merged.id:
            raise CustomerError(f"customer {merged_id} is already customer {survivor.id}")
        self.session.execute(
            update(Identity)
            .where(Identity.customer_id == merged.id)
            .values(customer_id=survivor.id)
        )
        # The survivor keeps both records' addresses: which one is current is for a user
        # to say, not for the merge to guess.
        self.session.execute(
            update(PostalAddress)
            .where(PostalAddress.customer_id == merged.id)
            .values(customer_id=survivor.id)
        )
        self.session.execute(
            update(Customer)
            .where(or_(Customer.id == merged.id, Customer.merged_into_id == merged.id))
            .values(merged_into_id=survivor.id)
        )
        self.session.expire(merged)
        audit.record(
            self.session,
            actor_id=actor_id,
            action="customer.merged",
            subject_type="customer",
            subject=survivor,
            detail={"merged": merged.id},
            personal={"reason": reason},
        )
        after_commit(
            self.session,
            lambda: self.hooks.customer_merged(
                survivor_id=survivor.id, merged_id=merged.id, reason=reason, actor_id=actor_id
            ),
        )
        return survivor

    def _sees(self, scope: Scope | None, customer_id: uuid.UUID) -> bool:
        return scope is None or sees(self.session, scope, self.get(customer_id))

    def _refused(
        self,
        customer: Customer,
        message: str,
        *,
        actor_id: uuid.UUID | None,
        personal: dict[str, object],
    ) -> MergeRefused:
        """The refusal of a merge asked for ``customer`` (the caller's own record), written
        to the audit trail; who else it concerned is personal, kept from a partner audit."""
        audit.record(
            self.session,
            actor_id=actor_id,
            action="customer.merge_refused",
            subject_type="customer",
            subject=customer,
            personal=personal,
        )
        return MergeRefused(message)

    def _claimed(self, identities: Sequence[IdentityRef], market: str) -> dict[IdentityRef, Owner]:
        """The customer each identity a user enters is already known to: its own owner, or
        the owner of an identity the channels say names the same person (a WhatsApp id and
        the phone number it is made of). Checking only the identity itself would let a
        record claim, under the other kind, someone another organization knows, and an
        inbound message naming both would then merge them."""
        aliases = {identity: self._same_person(identity, market) for identity in identities}
        owners = self._owners([*identities, *(a for found in aliases.values() for a in found)])
        claimed = {}
        for identity in identities:
            holders = [owners[i] for i in (identity, *aliases[identity]) if i in owners]
            if holders:
                claimed[identity] = holders[0]
        return claimed

    def _same_person(self, identity: IdentityRef, market: str) -> list[IdentityRef]:
        found: list[IdentityRef] = []
        for channel in self.hooks.channels().values():
            if identity.kind not in channel.identity_kinds:
                continue
            for alias in channel.same_person(identity):
                try:
                    found += self.normalize([alias], market)
                except InvalidIdentity:
                    # Digits no phone number of the market is made of: no one holds it.
                    continue
        return [alias for alias in dict.fromkeys(found) if alias != identity]

    def owners(self, identities: Sequence[IdentityRef]) -> dict[IdentityRef, Owner]:
        """The customer each of these (normalised) identities belongs to, asked of every
        zone at once: how a batch of imported rows finds who it names, with one query per
        kind of identity and zone whatever the batch's size."""
        if not identities:
            return {}
        self.session.flush()
        by_kind: dict[str, list[str]] = {}
        for identity in identities:
            by_kind.setdefault(identity.kind, []).append(identity.value)
        zones = self.session.stores.names
        holders: dict[IdentityRef, uuid.UUID] = {}
        markets: dict[uuid.UUID, str] = {}
        for zone in zones:
            connection = self.session.zone_connection(zone)
            postgres = connection.dialect.name == "postgresql"
            for kind, values in by_kind.items():
                found = connection.execute(
                    _HOLDERS_IN_ARRAY if postgres else _HOLDERS_IN_JSON,
                    {"kind": kind, "values": values if postgres else json.dumps(values)},
                )
                for kind_, value, customer_id, market in found:
                    holders[IdentityRef(kind_, value)] = customer_id
                    if market is not None:
                        markets[customer_id] = market
        return self._owned(holders, markets)

    def _owners(self, identities: Sequence[IdentityRef]) -> dict[IdentityRef, Owner]:
        """The customer each identity belongs to. A merge moves every identity to the
        survivor, so an owner is never a merged record.

        Every inbound message asks this, so it runs as Core queries on each zone's
        connection (pending changes flushed first), without building ORM objects. An
        identity's customer is usually in the same zone, where the join finds its market;
        after a merge across markets it may be in another, and is looked up there.
        """
        if not identities:
            return {}
        self.session.flush()
        zones = self.session.stores.names
        holders: dict[IdentityRef, uuid.UUID] = {}
        markets: dict[uuid.UUID, str] = {}
        for zone in zones:
            for kind, value, customer_id, market in self.session.zone_connection(zone).execute(
                _HOLDERS, {"identities": [(i.kind, i.value) for i in identities]}
            ):
                holders[IdentityRef(kind, value)] = customer_id
                if market is not None:
                    markets[customer_id] = market
        return self._owned(holders, markets)

    def _owned(
        self, holders: dict[IdentityRef, uuid.UUID], markets: dict[uuid.UUID, str]
    ) -> dict[IdentityRef, Owner]:
        """Owners of the identities held, with the markets of customers that sit in another
        zone than their identity (after a merge across markets) looked up there."""
        elsewhere = list(set(holders.values()) - set(markets))
        for zone in self.session.stores.names if elsewhere else ():
            for customer_id, market in self.session.zone_connection(zone).execute(
                _MARKETS, {"ids": elsewhere}
            ):
                markets[customer_id] = market
        return {
            identity: Owner(customer_id, markets[customer_id])
            for identity, customer_id in holders.items()
            if customer_id in markets
        }

    def _add_identities(
        self, customer: Owner, identities: Iterable[IdentityRef], *, verified: bool
    ) -> None:
        for identity in identities:
            self.session.add(
                Identity(
                    customer_id=customer.id,
                    kind=identity.kind,
                    value=identity.value,
                    verified=verified,
                    market=customer.market,
                )
            )
        self.session.flush()
