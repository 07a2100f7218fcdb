"""Addresses as the CRM keeps them, a customer's or an organization's: checked against
their country's data before any is kept, and read back in parts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from regiocrm.interfaces.formats import Address, InvalidAddress, validated_address
from regiocrm.models import OrganizationAddress, PostalAddress


@dataclass(frozen=True)
class NewAddress:
    """An address to keep for a customer or an organization: its ``kind`` (``postal``,
    ``billing``, ``delivery``…) and its parts."""

    address: Address
    kind: str = "postal"


def checked_addresses(addresses: Sequence[NewAddress], market: str) -> list[NewAddress]:
    """The addresses as their countries' data writes them, all checked before any is kept.

    :raises InvalidAddress: naming each refused part as ``addresses[i].part``, with why.
    """
    checked: list[NewAddress] = []
    problems: dict[str, str] = {}
    for index, new in enumerate(addresses):
        try:
            checked.append(NewAddress(validated_address(new.address, market), new.kind))
        except InvalidAddress as exc:
            problems |= {f"addresses[{index}].{part}": why for part, why in exc.problems.items()}
    if problems:
        raise InvalidAddress(problems)
    return checked


def address_parts(new: NewAddress) -> dict[str, object]:
    """The columns of a stored address (customer's or organization's) for ``new``."""
    return {"kind": new.kind, **vars(new.address)}


def address_of(row: PostalAddress | OrganizationAddress) -> Address:
    """The parts of a stored address."""
    return Address(**{part: getattr(row, part) for part in vars(Address())})
