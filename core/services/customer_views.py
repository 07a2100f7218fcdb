"""A customer as every front end shows them, apart from the customer service so that other
services' views (a dealer's leads with their customers) can hold one too."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from regiocrm.crm.addresses import address_of
from regiocrm.crm.customers import Customers
from regiocrm.interfaces.formats import Address
from regiocrm.models import Customer, PostalAddress
from regiocrm.platform.hooks import Hooks


@dataclass(frozen=True)
class IdentityView:
    kind: str
    value: str
    verified: bool


@dataclass(frozen=True)
class AddressView:
    """An address in parts and as written: in the country's script, and in latin script for
    a reader who does not read it.

    :param language: the language of the market's locale (``ja``): a reader of another
        language is shown ``written_latin``.
    """

    kind: str
    parts: Address
    written: str
    written_latin: str
    language: str

    @classmethod
    def of(cls, hooks: Hooks, row: PostalAddress) -> AddressView:
        parts = address_of(row)
        return cls(
            row.kind,
            parts,
            hooks.format_address(address=parts, market=row.market),
            hooks.format_address(address=parts, market=row.market, latin=True),
            hooks.packs().for_market(row.market).market(row.market).locale.split("_")[0],
        )

    def written_for(self, language: str) -> str:
        """The address as a reader of ``language`` reads it best."""
        return self.written if language == self.language else self.written_latin

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            **asdict(self.parts),
            "formatted": self.written,
            "formatted_latin": self.written_latin,
        }


@dataclass(frozen=True)
class CustomerView:
    """A customer as front ends show it: names in parts and as the market writes them,
    every identity, and the records merged into them; their addresses only where the
    front end shows the customer themselves (:meth:`with_addresses`), not in a list of a
    dealer's leads."""

    id: uuid.UUID
    market: str
    kind: str
    display_name: str | None
    family_name: str | None
    given_name: str | None
    family_name_phonetic: str | None
    given_name_phonetic: str | None
    company_name: str | None
    preferred_locale: str | None
    identities: tuple[IdentityView, ...]
    merged_ids: tuple[uuid.UUID, ...]
    addresses: tuple[AddressView, ...] = ()

    @classmethod
    def with_addresses(cls, customers: Customers, customer: Customer) -> CustomerView:
        """The customer's view with their addresses, written for the market."""
        view = cls.of(customers, customer)
        rows = customers.addresses(customer.id)
        return replace(view, addresses=tuple(AddressView.of(customers.hooks, r) for r in rows))

    @classmethod
    def of(cls, customers: Customers, customer: Customer) -> CustomerView:
        return cls(
            id=customer.id,
            market=customer.market,
            kind=customer.kind.value,
            display_name=customers.display_name(customer),
            family_name=customer.family_name,
            given_name=customer.given_name,
            family_name_phonetic=customer.family_name_phonetic,
            given_name_phonetic=customer.given_name_phonetic,
            company_name=customer.company_name,
            preferred_locale=customer.preferred_locale,
            identities=tuple(
                IdentityView(i.kind, i.value, i.verified) for i in customers.identities(customer.id)
            ),
            merged_ids=tuple(customers.merge_set(customer.id)[1:]),
        )

    @property
    def phone(self) -> str | None:
        """The customer's number to call, a verified one first."""
        phones = [identity for identity in self.identities if identity.kind == "phone"]
        phones.sort(key=lambda identity: not identity.verified)
        return phones[0].value if phones else None

    def as_json(self) -> dict[str, Any]:
        return {
            **{field.name: getattr(self, field.name) for field in fields(self)},
            "id": str(self.id),
            "identities": [asdict(identity) for identity in self.identities],
            "merged_ids": [str(merged) for merged in self.merged_ids],
            "addresses": [address.as_json() for address in self.addresses],
        }
