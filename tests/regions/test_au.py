"""The au pack: Australia, the template adopted with modifications."""

from __future__ import annotations

from regiocrm.formats import Address, PersonName
from regiocrm.hooks import Hooks
from regiocrm.i18n import format_money


def test_names_given_name_first(regiocrm_hooks: Hooks) -> None:
    assert (
        regiocrm_hooks.format_name(name=PersonName("Citizen", "Jane"), market="AU")
        == "Jane Citizen"
    )


def test_address_from_smallest_unit_up(regiocrm_hooks: Hooks) -> None:
    address = Address(
        recipient="Jane Citizen",
        building="Level 5",
        street="1 Martin Place",
        city="Sydney",
        region="NSW",
        postal_code="2000",
        country="Australia",
    )
    assert regiocrm_hooks.format_address(address=address, market="AU") == (
        "Jane Citizen\nLevel 5\n1 Martin Place\nSydney NSW 2000\nAustralia"
    )


def test_a_mobile_number_becomes_e164(regiocrm_hooks: Hooks) -> None:
    assert regiocrm_hooks.normalize_identity(
        kind="phone", value="0412 345 678", market="AU"
    ).value == ("+61412345678")


def test_email_addresses_are_normalised_by_domain(regiocrm_hooks: Hooks) -> None:
    def email(value: str) -> str:
        return regiocrm_hooks.normalize_identity(kind="email", value=value, market="AU").value

    assert email("  Jane.Citizen@Example.COM.AU ") == "jane.citizen@example.com.au"
    # Gmail ignores dots and +tags: one mailbox, one identity.
    assert email("Jane.Citizen+dealer@googlemail.com") == "janecitizen@gmail.com"
    assert email("jane.citizen+dealer@example.com") == "jane.citizen+dealer@example.com"


def test_money() -> None:
    assert format_money(1234.5, "AUD", "en_AU") == "$1,234.50"


def test_due_time_skips_australia_day(due, utc) -> None:
    # Fri 23 Jan 17:00 AEDT (UTC+11): one hour; weekend; Mon 26 Jan is Australia Day.
    assert due("AU", "2026-01-23 17:00", 11, hours=2) == utc("2026-01-26 23:00")
