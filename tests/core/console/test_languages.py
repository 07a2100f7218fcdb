"""Every console page in each of the console's languages, with ``<html lang>`` set, and
``regiocrm translations check`` covering the console templates' strings."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po
from console_client import ConsoleDeployment, html_lang

from regiocrm.models import OrganizationKind, UserRole
from regiocrm.platform.i18n import CATALOG_LOCALES, _, core_catalogs, use_locale

# The <html lang> each catalog's pages declare (BCP 47).
LANG_TAGS = {"en": "en", "zh_Hans": "zh-Hans", "zh_Hant": "zh-Hant", "ja": "ja", "ko": "ko"}


def heading(page: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", page, re.S)
    assert found, page[:300]
    return found.group(1)


def translated(message: str, locale: str) -> str:
    with use_locale(locale):
        return _(message)


@pytest.fixture
def world(console: ConsoleDeployment) -> ConsoleDeployment:
    auditors = console.organization("Audit Partners", OrganizationKind.PARTNER)
    dealer = console.organization("Pudong Motors", OrganizationKind.DEALER)
    console.user("audrey", UserRole.PARTNER_AUDITOR, auditors)
    console.user("zhou", UserRole.DEALER_STAFF, dealer)
    return console


def test_every_console_page_is_shown_in_each_language_with_its_lang(
    world: ConsoleDeployment,
) -> None:
    auditor = world.browser()
    auditor.sign_in("audrey")
    dealer = world.browser()
    dealer.sign_in("zhou")
    for locale in CATALOG_LOCALES:
        for browser in (auditor, dealer):
            assert browser.post_form("/language", {"locale": locale}).status_code == 303
        pages = {
            "Sign in to regiocrm": world.browser().get("/login", **{"accept-language": locale}),
            "Audit trail": auditor.get("/audit"),
            "Not found": auditor.get(f"/audit?org={uuid.uuid4()}&from=2026-01-01&to=2026-01-02"),
            "Not done": dealer.get("/audit"),
        }
        for english, page in pages.items():
            assert html_lang(page.text) == LANG_TAGS[locale], (locale, english)
            assert heading(page.text) == translated(english, locale), (locale, english)
            if locale != "en":
                assert heading(page.text) != english, (locale, english)


def _without_translation(folder: Path, locale: str, message: str) -> None:
    po = folder / locale / "LC_MESSAGES" / "regiocrm.po"
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    catalog[message].string = ""
    with po.open("wb") as handle:
        write_po(handle, catalog)


def test_translations_check_reports_a_console_string_a_catalog_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, regiocrm_cli
) -> None:
    folder = tmp_path / "locale"
    shutil.copytree(str(core_catalogs()), folder)
    with (folder / "regiocrm.pot").open("rb") as handle:
        template = read_po(handle)
    # A string only a console template holds.
    sources = {path for path, _line in template["Pages of the trail"].locations}
    assert sources == {"core/console/templates/audit.html"}
    _without_translation(folder, "ja", "Pages of the trail")
    monkeypatch.setattr("regiocrm.cli.translations.core_catalogs", lambda: folder)
    result = regiocrm_cli("translations", "check", "--json")
    assert result.exit_code == 1
    report = {row["catalog"]: row for row in json.loads(result.stdout)}
    assert report["ja"]["missing"] == ["Pages of the trail"]
    assert all(report[locale]["complete"] for locale in CATALOG_LOCALES if locale != "ja")
