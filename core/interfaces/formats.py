"""Names and addresses as a market writes them.

The types here are what the ``format_name`` and ``format_address`` hooks take. The
template's implementations (in the ``asia`` pack) follow the resolved pack's data; a pack
implements a hook itself only where data is not enough.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from regiocrm.interfaces.packs import NameOrder, Pack, PhoneticRule


@dataclass(frozen=True)
class PersonName:
    """A person's name in parts; ``*_phonetic`` hold a reading (furigana, pinyin)."""

    family: str | None = None
    given: str | None = None
    family_phonetic: str | None = None
    given_phonetic: str | None = None


@dataclass(frozen=True)
class Address:
    """A postal address in parts; which parts a market writes, and in which order, is the
    pack's ``address_format``."""

    recipient: str | None = None
    building: str | None = None
    street: str | None = None
    district: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


def ordered_name(parts: tuple[str | None, str | None], order: NameOrder, separator: str) -> str:
    """Family and given name joined in the market's order, leaving out what is missing."""
    family, given = parts
    ordered = (family, given) if order is NameOrder.FAMILY_FIRST else (given, family)
    return separator.join(part for part in ordered if part)


def name_from_pack(name: PersonName, pack: Pack) -> str:
    """The template's rule: the name in the pack's order, then its reading in parentheses."""
    written = ordered_name((name.family, name.given), pack.name_order, pack.name_separator)
    if pack.phonetic_name is PhoneticRule.NONE:
        return written
    reading = ordered_name((name.family_phonetic, name.given_phonetic), pack.name_order, " ")
    return f"{written} ({reading})" if reading else written


def address_from_pack(address: Address, pack: Pack) -> str:
    """Fill the pack's address template, dropping empty fields and the blank lines they leave."""
    values = {f.name: (getattr(address, f.name) or "").strip() for f in fields(Address)}
    lines = []
    for template in pack.address_format.split("\n"):
        line = template.format(**values)
        line = re.sub(r"\s{2,}", " ", line).strip(" ,")
        if line and not _only_literals(template, line):
            lines.append(line)
    return "\n".join(lines)


def _only_literals(template: str, line: str) -> bool:
    """True when every field of a template line was empty, so only its fixed text is left
    (e.g. a lone "〒" with no postal code)."""
    return line == re.sub(r"{\w+}", "", template).strip(" ,")
