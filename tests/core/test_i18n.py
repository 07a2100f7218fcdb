"""Languages: catalogs that cover every marked string, negotiation, and Babel formats.

Expected formats are the CLDR conventions of each market, written out by hand (see
shared REFERENCE section 7), not copied from the code under test.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations

from regiocrm.platform.i18n import (
    CATALOG_LOCALES,
    DOMAIN,
    _,
    catalog_names,
    catalog_status,
    core_catalogs,
    format_date,
    format_datetime,
    format_money,
    from_minor_units,
    negotiate,
    parse_locale,
    to_minor_units,
    use_locale,
)

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"{[^{}]*}")


def _catalog(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def _marked_strings() -> set[str]:
    """What ``pybabel extract -F babel.cfg`` finds in the source today."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    return {
        message
        for _filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords={"_": None}
        )
    }


def test_template_lists_exactly_the_marked_strings() -> None:
    template = {m.id for m in _catalog(ROOT / "core" / "locale" / f"{DOMAIN}.pot") if m.id}
    marked = _marked_strings()
    assert marked - template == set(), "re-run pybabel extract (docs/translating.md)"
    assert template - marked == set(), "the template lists strings the code no longer has"


@pytest.mark.parametrize("catalog", CATALOG_LOCALES)
def test_every_catalog_translates_every_string(catalog: str) -> None:
    [status] = [s for s in catalog_status(core_catalogs()) if s.catalog == catalog]
    assert status.total == len(_marked_strings())
    assert status.missing == ()
    assert status.fuzzy == ()


@pytest.mark.parametrize("catalog", CATALOG_LOCALES)
def test_translations_keep_every_placeholder(catalog: str) -> None:
    po = _catalog(ROOT / "core" / "locale" / catalog / "LC_MESSAGES" / f"{DOMAIN}.po")
    for message in po:
        if message.id:
            assert sorted(PLACEHOLDER.findall(message.string)) == sorted(
                PLACEHOLDER.findall(message.id)
            ), message.id


@pytest.mark.parametrize("catalog", CATALOG_LOCALES)
def test_compiled_catalog_says_what_its_source_says(catalog: str) -> None:
    folder = ROOT / "core" / "locale" / catalog / "LC_MESSAGES"
    compiled = Translations((folder / f"{DOMAIN}.mo").open("rb"), domain=DOMAIN)
    for message in _catalog(folder / f"{DOMAIN}.po"):
        if message.id:
            assert compiled.gettext(message.id) == message.string, "re-run pybabel compile"


def _write_catalogs(folder: Path, messages: dict[str, dict[str, str]], template: list[str]) -> None:
    """A ``locale/`` folder as a plugin ships it: a template and per-locale catalogs."""
    folder.mkdir(parents=True)
    pot = Catalog(domain=DOMAIN)
    for message_id in template:
        pot.add(message_id)
    with (folder / f"{DOMAIN}.pot").open("wb") as handle:
        write_po(handle, pot)
    for locale, strings in messages.items():
        catalog = Catalog(locale=locale, domain=DOMAIN)
        for message_id, string in strings.items():
            flags = ("fuzzy",) if string.startswith("~") else ()
            catalog.add(message_id, string.lstrip("~"), flags=flags)
        target = folder / locale / "LC_MESSAGES"
        target.mkdir(parents=True)
        with (target / f"{DOMAIN}.po").open("wb") as handle:
            write_po(handle, catalog)
        with (target / f"{DOMAIN}.mo").open("wb") as handle:
            write_mo(handle, catalog)


def test_status_counts_missing_and_fuzzy_messages(tmp_path: Path) -> None:
    _write_catalogs(
        tmp_path / "locale",
        {"ja": {"one": "一", "two": "~二"}, "ko": {"one": "하나", "two": "둘", "three": "셋"}},
        template=["one", "two", "three"],
    )
    ja, ko = catalog_status(tmp_path / "locale", "market")
    assert (ja.catalog, ja.translated, ja.total) == ("ja", 1, 3)
    assert ja.fuzzy == ("two",)
    assert ja.missing == ("three",)
    assert not ja.complete
    assert ko.complete
    assert ko.percent == 100.0


def test_catalog_names_go_from_specific_to_language() -> None:
    assert catalog_names(parse_locale("zh_Hant_HK")) == ["zh_Hant_HK", "zh_Hant", "zh_HK", "zh"]
    assert catalog_names(parse_locale("ja_JP")) == ["ja_JP", "ja"]
    # Babel adds the script CLDR implies: a mainland locale uses the Simplified catalog.
    assert "zh_Hans" in catalog_names(parse_locale("zh_CN"))


def test_negotiation_prefers_the_customer_then_the_market_then_english() -> None:
    assert str(negotiate("ko_KR", "ja_JP")) == "ko_KR"
    # No Thai catalog: the market's own language is next.
    assert str(negotiate("th_TH", "zh_Hant_TW")) == "zh_Hant_TW"
    assert str(negotiate(None, "", "not a locale", "th_TH")) == "en"


def test_use_locale_translates_inside_the_block_only() -> None:
    with use_locale("ja_JP"):
        assert _("Aborted.") == "中止しました。"
        with use_locale("zh_Hant_TW"):
            assert _("Aborted.") == "已中止。"
        assert _("yes") == "はい"
    assert _("Aborted.") == "Aborted."


def test_a_locale_without_catalog_keeps_the_english_source() -> None:
    with use_locale("th_TH"):
        assert _("Aborted.") == "Aborted."


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "written"),
    [
        (1234567.891, "CNY", "zh_Hans_CN", "¥1,234,567.89"),
        (1234567.891, "HKD", "zh_Hant_HK", "HK$1,234,567.89"),
        (1234567.891, "TWD", "zh_Hant_TW", "$1,234,567.89"),
        (1234567.891, "JPY", "ja_JP", "￥1,234,568"),
        (1234567.891, "KRW", "ko_KR", "₩1,234,568"),
        (1234567.891, "AUD", "en_AU", "$1,234,567.89"),
    ],
)
def test_money_in_each_market(amount: float, currency: str, locale: str, written: str) -> None:
    assert format_money(amount, currency, locale) == written


def test_money_is_stored_in_minor_units() -> None:
    assert to_minor_units("1234.50", "CNY") == 123450
    assert to_minor_units(1234, "JPY") == 1234
    assert to_minor_units(1234, "KRW") == 1234
    assert from_minor_units(123450, "AUD") == Decimal("1234.50")
    assert from_minor_units(1234, "JPY") == Decimal(1234)


def test_an_amount_finer_than_the_currency_is_refused() -> None:
    with pytest.raises(ValueError, match="finer than the currency's smallest unit"):
        to_minor_units("1234.5", "JPY")
    with pytest.raises(ValueError, match="finer than"):
        to_minor_units("0.001", "CNY")


@pytest.mark.parametrize(
    ("locale", "medium", "short"),
    [
        ("zh_Hans_CN", "2025年3月9日", "2025/3/9"),
        ("ja_JP", "2025/03/09", "2025/03/09"),
        ("ko_KR", "2025. 3. 9.", "25. 3. 9."),
        ("en_AU", "9 Mar 2025", "9/3/25"),
    ],
)
def test_dates_in_each_locale(locale: str, medium: str, short: str) -> None:
    assert format_date(date(2025, 3, 9), locale) == medium
    assert format_date(date(2025, 3, 9), locale, "short") == short


def test_datetimes_are_shown_in_the_markets_time_zone() -> None:
    moment = datetime(2025, 3, 9, 23, 30, tzinfo=UTC)
    # 23:30 UTC is already the next morning in Seoul.
    assert format_datetime(moment, "ko_KR", "Asia/Seoul", "short").startswith("25. 3. 10.")
    with pytest.raises(ValueError, match="timezone-aware"):
        format_datetime(datetime(2025, 3, 9), "ko_KR", "Asia/Seoul")


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("ja_JP.UTF-8", "エラー: パック 'XX' が見つかりません"),
        ("zh_CN.UTF-8", "错误：未知国家包 'XX'"),
        ("zh_TW.UTF-8", "錯誤：未知國家套件 'XX'"),
        ("ko_KR.UTF-8", "오류: 알 수 없는 팩 'XX'"),
        ("C.UTF-8", "Error: unknown pack 'XX'"),
    ],
)
def test_cli_speaks_the_terminals_language(
    regiocrm_cli, monkeypatch: pytest.MonkeyPatch, lang: str, expected: str
) -> None:
    monkeypatch.setenv("LANG", lang)
    result = regiocrm_cli("packs", "show", "XX")
    assert result.exit_code == 2
    assert result.stderr.startswith(expected)


def test_language_list_picks_the_first_translated_one(
    regiocrm_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGUAGE", "th:ko:ja")
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    assert regiocrm_cli("packs", "show", "XX").stderr.startswith("오류:")


def test_translations_check_reports_every_core_catalog(regiocrm_cli) -> None:
    result = regiocrm_cli("translations", "check", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert sorted(row["catalog"] for row in report) == sorted(CATALOG_LOCALES)
    assert all(row["complete"] and row["total"] > 0 for row in report)


@pytest.fixture
def market_plugin(
    tmp_path: Path, register_plugin, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """An installed market package shipping its own catalogs beside its module."""
    package = tmp_path / "site" / "market_xx"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    _write_catalogs(
        package / "locale",
        {"ja": {"Aborted.": "キャンセルしました。", "Welcome to our showroom": ""}},
        template=["Aborted.", "Welcome to our showroom"],
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    register_plugin(importlib.import_module("market_xx"), name="market_xx")
    yield package
    sys.modules.pop("market_xx", None)


def test_a_plugin_catalog_is_merged_over_the_core(market_plugin: Path, regiocrm_hooks) -> None:
    folders = regiocrm_hooks.catalog_folders()
    assert list(folders) == ["market_xx"]
    with use_locale("ja_JP", folders.values()):
        assert _("Aborted.") == "キャンセルしました。"
        assert _("yes") == "はい"


def test_translations_check_fails_on_a_plugins_untranslated_string(
    market_plugin: Path, regiocrm_cli
) -> None:
    result = regiocrm_cli("translations", "check", "--json")
    assert result.exit_code == 1
    [plugin_row] = [row for row in json.loads(result.stdout) if row["folder"] == "market_xx"]
    assert plugin_row["missing"] == ["Welcome to our showroom"]
    assert plugin_row["percent"] == 50.0
