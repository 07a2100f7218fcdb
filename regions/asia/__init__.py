"""``asia``: the regional template, the China rollout generalised.

Every market pack extends it and overrides only what differs. Its hook implementations are
the data-driven fallbacks (``trylast``) for every market: a pack that needs more than data
implements the hook itself and wins.
"""

from __future__ import annotations

import re
from datetime import time
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from regiocrm import DataClass, hookimpl
from regiocrm.interfaces.calendars import BusinessCalendar, Service, public_holidays
from regiocrm.interfaces.channels import ChannelAccount, InboundMessage
from regiocrm.interfaces.formats import Address, PersonName, address_from_google, name_from_pack
from regiocrm.interfaces.identities import InvalidIdentity, NormalizedIdentity
from regiocrm.interfaces.packs import (
    BusinessHours,
    CaseTarget,
    NameOrder,
    Pack,
    PackSpec,
    PhoneticRule,
    ResidencyRule,
    VinRule,
)
from regiocrm.interfaces.terms import LeadStatus, LicenceTier, Priority
from regiocrm.platform.i18n import _, use_locale

# Providers that ignore dots and "+tags" in the local part: one mailbox, many spellings.
CANONICAL_MAIL_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}

# The headers of English-language dealer systems' exports, each to the field it holds
# (`regiocrm import`); every market's packs add their own language's over them.
ENGLISH_COLUMNS = {
    "Family name": "family_name",
    "Surname": "family_name",
    "Last name": "family_name",
    "Given name": "given_name",
    "First name": "given_name",
    "Name": "full_name",
    "Full name": "full_name",
    "Customer name": "full_name",
    "Company": "company_name",
    "Company name": "company_name",
    "Phone": "phone",
    "Mobile": "phone",
    "Mobile phone": "phone",
    "Telephone": "phone",
    "Email": "email",
    "E-mail": "email",
    "Email address": "email",
    "Customer number": "dealer_ref",
    "Customer no": "dealer_ref",
    "Customer ID": "dealer_ref",
    "VIN": "vin",
    "Make": "make",
    "Model": "model",
    "Year": "model_year",
    "Model year": "model_year",
    "Purchase date": "purchased_on",
    "Delivery date": "purchased_on",
    "Contract type": "contract_kind",
    "Contract status": "contract_status",
    "Contract number": "reference",
    "Start date": "starts_on",
    "End date": "ends_on",
    "Amount": "amount",
    "Currency": "currency",
}


@hookimpl
def register_packs() -> list[PackSpec]:
    everywhere = ResidencyRule(zones=("main",))
    return [
        PackSpec.declare(
            code="asia",
            name="Asia regional template",
            locales=("en",),
            timezones=(),
            name_order=NameOrder.FAMILY_FIRST,
            name_separator="",
            phonetic_name=PhoneticRule.NONE,
            business_hours=BusinessHours(days=(0, 1, 2, 3, 4), opens=time(9), closes=time(18)),
            call_centre_24x7=True,
            channels=("sms", "email"),
            map_providers=("gazetteer",),
            residency={data_class: everywhere for data_class in DataClass},
            storage_quotas_mib={LicenceTier.FULL: 102_400, LicenceTier.COMMUNITY: 10_240},
            case_targets={
                Priority.URGENT: CaseTarget(response_hours=1, resolution_hours=8),
                Priority.HIGH: CaseTarget(response_hours=4, resolution_hours=18),
                Priority.NORMAL: CaseTarget(response_hours=8, resolution_hours=27),
                Priority.LOW: CaseTarget(response_hours=18, resolution_hours=90),
            },
            lead_follow_up_hours={
                LeadStatus.NEW: 4,
                LeadStatus.CONTACTED: 24,
                LeadStatus.QUALIFIED: 40,
            },
            import_columns=ENGLISH_COLUMNS,
            vin_rule=VinRule.ISO3779,
            # Raw events a quarter, then by day; a lamp that can leave the driver stranded or
            # unsafe is urgent, any other a normal case for the servicing dealer.
            telematics_retention_days=90,
            service_due_leads=True,
            warning_lamp_priorities={
                "brake": Priority.URGENT,
                "airbag": Priority.URGENT,
                "engine": Priority.HIGH,
                "oil_pressure": Priority.HIGH,
                "tyre_pressure": Priority.NORMAL,
                "*": Priority.NORMAL,
            },
        )
    ]


@hookimpl(trylast=True)
def format_name(name: PersonName, market: str, pack: Pack) -> str:
    return name_from_pack(name, pack)


@hookimpl(trylast=True)
def format_address(address: Address, market: str, latin: bool) -> str:
    return address_from_google(address, market, latin=latin)


@hookimpl(trylast=True)
def normalize_identity(kind: str, value: str, market: str) -> NormalizedIdentity | None:
    if kind == "phone":
        return NormalizedIdentity(kind, _e164(value, market))
    if kind == "email":
        return NormalizedIdentity(kind, _email(value))
    return None


@hookimpl(trylast=True)
def auto_reply(message: InboundMessage, account: ChannelAccount, locale: str) -> str | None:
    """Welcome a new follower; ordinary messages wait for an agent rather than a robot."""
    if message.kind == "event" and message.event == "follow":
        with use_locale(locale):
            return _("Thank you for following us. Write to us here any time: an agent will answer.")
    return None


@hookimpl(trylast=True)
def business_calendar(
    market: str, pack: Pack, service: Service, subdivision: str | None
) -> BusinessCalendar:
    """An organization's own subdivision comes first: a pack's ``holiday_subdivision`` is
    the market's default, for the clocks no organization's subdivision sets."""
    profile = pack.market(market)
    if service is Service.CALL_CENTRE and pack.call_centre_24x7:
        return BusinessCalendar(ZoneInfo(profile.timezone), None, None)
    days_off = public_holidays(market, subdivision or profile.holiday_subdivision)
    return BusinessCalendar(ZoneInfo(profile.timezone), pack.business_hours, days_off)


def _e164(value: str, market: str) -> str:
    try:
        number = phonenumbers.parse(value, market)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentity(
            _("{value!r} is not a phone number: {reason}").format(value=value, reason=exc)
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentity(
            _("{value!r} is not a valid phone number in {market}").format(
                value=value, market=market
            )
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _email(value: str) -> str:
    simple = _simple_email(value)
    if simple is not None:
        local, domain = simple
    else:
        try:
            address = validate_email(value.strip(), check_deliverability=False)
        except EmailNotValidError as exc:
            raise InvalidIdentity(
                _("{value!r} is not an e-mail address: {reason}").format(value=value, reason=exc)
            ) from None
        local, domain = address.local_part.lower(), address.ascii_domain.lower()
    if domain in CANONICAL_MAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        domain = CANONICAL_MAIL_DOMAINS[domain]
    return f"{local}@{domain}"


# RFC 5322's dot-atom in ASCII, as email-validator reads an unquoted local part.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def _simple_email(value: str) -> tuple[str, str] | None:
    """The local part (lower-cased) and checked ASCII domain of an address in the plain
    form nearly every address has, with its domain checked once per process; ``None`` for
    any other, which ``validate_email`` reads in full.

    Bulk imports normalise hundreds of thousands of addresses over a few dozen domains,
    and the domain is most of ``validate_email``'s work. Only what it would accept
    unchanged is taken here: one ``@``, an ASCII dot-atom of at most 64 characters before
    it, and the whole well under the 254 characters an address may have.
    """
    if len(value) > 128 or value.count("@") != 1:
        return None
    local, domain = value.split("@")
    if len(local) > 64 or not _DOT_ATOM.fullmatch(local):
        return None
    checked = _checked_domain(domain)
    return None if checked is None else (local.lower(), checked)


@lru_cache(maxsize=4096)
def _checked_domain(domain: str) -> str | None:
    """The domain's ASCII form, lower-cased, if ``validate_email`` accepts it after a plain
    local part (its checks of a domain do not depend on the local part)."""
    if not domain.isascii():
        return None
    try:
        address = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return address.ascii_domain.lower()
