"""``asia``: the regional template, the China rollout generalised.

Every market pack extends it and overrides only what differs. Its hook implementations are
the data-driven fallbacks (``trylast``) for every market: a pack that needs more than data
implements the hook itself and wins.
"""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from regiocrm import DataClass, hookimpl
from regiocrm.interfaces.calendars import BusinessCalendar, Service, public_holidays
from regiocrm.interfaces.channels import ChannelAccount, InboundMessage
from regiocrm.interfaces.formats import Address, PersonName, address_from_pack, name_from_pack
from regiocrm.interfaces.identities import InvalidIdentity, NormalizedIdentity
from regiocrm.interfaces.packs import (
    BusinessHours,
    CaseTarget,
    NameOrder,
    Pack,
    PackSpec,
    PhoneticRule,
    ResidencyRule,
)
from regiocrm.interfaces.terms import LeadStatus, LicenceTier, Priority
from regiocrm.platform.i18n import _, use_locale

# Providers that ignore dots and "+tags" in the local part: one mailbox, many spellings.
CANONICAL_MAIL_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


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
            address_format="{postal_code}\n{region}{city}{district}{street}\n{building}\n{recipient}",
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
def format_address(address: Address, market: str, pack: Pack) -> str:
    return address_from_pack(address, pack)


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
