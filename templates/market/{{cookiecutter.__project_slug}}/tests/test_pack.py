"""{{ cookiecutter.country_name }}: the pack is installed, extends its template, and writes names, numbers,
money and due times as the market does."""

from datetime import UTC, date, datetime, timedelta
from importlib.metadata import entry_points

import phonenumbers
import pycountry
from babel import Locale
from babel.core import get_global
from babel.languages import get_official_languages
from babel.numbers import get_currency_symbol, get_territory_currencies

from regiocrm import DataClass
from regiocrm.interfaces.calendars import Service
from regiocrm.interfaces.formats import PersonName
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import format_money
from regiocrm.platform.migrations import Migrator
from regiocrm.residency.rules import Residency
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores

MARKET = "{{ cookiecutter.country_code }}"
PACK = "{{ cookiecutter.__pack_code }}"


def test_the_pack_registers_itself_through_its_entry_point() -> None:
    [entry] = [e for e in entry_points(group="regiocrm") if e.name == PACK]
    assert entry.value == "{{ cookiecutter.__package_name }}"


def test_the_pack_serves_its_market(regiocrm_hooks: Hooks) -> None:
    packs = regiocrm_hooks.packs()
    pack = packs.for_market(MARKET)
    assert (pack.code, pack.extends) == (PACK, "{{ cookiecutter.extends }}")
    assert pack.chain[-1] == "asia", "every market rolls out from the regional template"
    assert list(pack.map_providers) == {{ cookiecutter.map_providers.split(",") | jsonify(None) }}


def test_the_market_is_the_country_iso_3166_and_cldr_describe(regiocrm_hooks: Hooks) -> None:
    """Checked against what ISO 3166 (pycountry) and CLDR (Babel) say of the country here,
    not against the values the market was made with."""
    country = pycountry.countries.get(alpha_2=MARKET)
    assert country is not None
    pack = regiocrm_hooks.packs().for_market(MARKET)
    market = pack.market(MARKET)
    names = {getattr(country, name, None) for name in ("name", "common_name", "official_name")}
    assert pack.name in names
    assert market.currency in get_territory_currencies(MARKET)
    assert pack.currency == market.currency
    zones = get_global("territory_zones")[MARKET]
    assert market.timezone in zones
    assert pack.timezones[0] == market.timezone
    assert set(pack.timezones) <= set(zones)
    official = get_official_languages(MARKET, de_facto=True)
    locale = Locale.parse(market.locale)
    assert locale.territory == MARKET
    assert locale.language in {Locale.parse(language).language for language in official}
    assert market.locale in pack.locales


def test_a_mobile_number_written_locally_is_stored_in_e164(regiocrm_hooks: Hooks) -> None:
    example = phonenumbers.example_number_for_type(MARKET, phonenumbers.PhoneNumberType.MOBILE)
    written = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    stored = regiocrm_hooks.normalize_identity(kind="phone", value=written, market=MARKET)
    assert stored.value == phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


def test_a_name_is_written_in_the_packs_order(regiocrm_hooks: Hooks) -> None:
    pack = regiocrm_hooks.packs().for_market(MARKET)
    written = regiocrm_hooks.format_name(name=PersonName("Family", "Given"), market=MARKET)
    first = "Family" if pack.name_order.value == "family_first" else "Given"
    assert written.startswith(first)


def test_money_is_shown_in_the_markets_currency(regiocrm_hooks: Hooks) -> None:
    market = regiocrm_hooks.packs().market(MARKET)
    shown = format_money(1234, market.currency, market.locale)
    assert get_currency_symbol(market.currency, market.locale) in shown


def test_a_due_time_skips_the_markets_public_holidays(regiocrm_hooks: Hooks) -> None:
    calendar = regiocrm_hooks.business_calendar(market=MARKET, service=Service.OFFICE)
    year = date.today().year
    holidays, hours = calendar.public_holidays, calendar.hours
    assert holidays is not None
    assert hours is not None
    holidays.get(date(year, 1, 1))
    [holiday, *_] = sorted(day for day in holidays if day.year == year)
    eve = datetime.combine(holiday - timedelta(days=1), hours.closes, calendar.timezone)
    due = regiocrm_hooks.due_at(
        market=MARKET, start=eve.astimezone(UTC), duration=timedelta(hours=1)
    )
    assert due.astimezone(calendar.timezone).date() > holiday


def test_every_class_of_data_stays_in_the_markets_zone(regiocrm_hooks: Hooks) -> None:
    residency = Residency.build(regiocrm_hooks.packs(), RegiocrmSettings())
    assert {residency.zone_for(MARKET, data_class) for data_class in DataClass} == {"{{ cookiecutter.zone }}"}


def test_the_packs_migration_branch_joins_the_history(
    regiocrm_hooks: Hooks, deployment_dir
) -> None:
    stores = ZoneStores.open(RegiocrmSettings(), regiocrm_hooks)
    heads = Migrator(stores, regiocrm_hooks).heads()
    stores.dispose()
    assert "{{ cookiecutter.__revision }}" in heads
