"""What each column holds about a person: what an export without personal data leaves out.

The analytics export (``regiocrm analytics export``) reads this for every registered
entity, a plugin's included, so a new table is pseudonymised without code of its own. A
column says what it holds in its ``info``::

    nickname: Mapped[str | None] = mapped_column(String(60))  # left out: text
    channel: Mapped[str] = mapped_column(String(40), info=not_personal())
    vin: Mapped[str] = mapped_column(String(17), info=person_key())
    latitude: Mapped[float | None] = mapped_column(info=personal())

A column that says nothing is judged by its type, on the safe side:

* ids (``Uuid``) are keys: they leave as keyed hashes, so joins across tables still work
  and no id can be looked up in the deployment;
* enumerations, booleans, numbers, dates and times leave in clear: they cannot hold a
  name, a phone number, an e-mail or an address as text;
* text, JSON and every other type are left out, since they may hold any of those. A text
  column that holds none (a channel's name, a status, a currency) says so with
  :func:`not_personal`.

Numbers and dates that are about a person all the same (where they live, when they were
born) say so with :func:`personal`.
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import Boolean, Column, Date, DateTime, Enum, Float, Integer, Numeric, Uuid
from sqlalchemy.types import TypeDecorator

INFO_KEY = "personal"


class Personal(enum.StrEnum):
    """What a column holds about a person."""

    #: nothing personal: it leaves in clear.
    NO = "no"
    #: personal data (a name, an identity, an address, words that may hold them): left out.
    YES = "yes"
    #: a value that identifies a person or their things (an id, a VIN): a keyed hash.
    KEY = "key"
    #: a credential (a password's or a token's hash): never leaves, personal data or not.
    CREDENTIAL = "credential"


def not_personal() -> dict[str, Any]:
    """``info`` of a column that holds nothing about a person (a fresh dict per column)."""
    return {INFO_KEY: Personal.NO}


def personal() -> dict[str, Any]:
    """``info`` of a column that holds personal data whatever its type."""
    return {INFO_KEY: Personal.YES}


def person_key() -> dict[str, Any]:
    """``info`` of a column whose value identifies a person or their things."""
    return {INFO_KEY: Personal.KEY}


def credential() -> dict[str, Any]:
    """``info`` of a column holding a credential, which no export carries."""
    return {INFO_KEY: Personal.CREDENTIAL}


# Types that cannot hold free text: a closed set of values, a number, a moment.
_CLEAR_TYPES = (Enum, Boolean, Integer, Float, Numeric, Date, DateTime)


def personal_of(column: Column[Any]) -> Personal:
    """What ``column`` holds about a person: what it declares, else what its type allows.

    :raises ValueError: for an ``info["personal"]`` that is no :class:`Personal`.
    """
    declared = column.info.get(INFO_KEY)
    if declared is not None:
        try:
            return Personal(declared)
        except ValueError:
            raise ValueError(
                f"column {column.table.name}.{column.name}: info[{INFO_KEY!r}] is"
                f" {declared!r}; use one of {', '.join(p.value for p in Personal)}"
            ) from None
    stored = column.type
    # A decorated type (UTC timestamps) is judged by what it stores.
    if isinstance(stored, TypeDecorator):
        stored = stored.impl_instance
    if isinstance(stored, Uuid):
        return Personal.KEY
    if isinstance(stored, _CLEAR_TYPES):
        return Personal.NO
    return Personal.YES
