"""What the market template's post-generation hook does: the market's message catalogs and
the files its choices leave out.

Kept apart from :mod:`regiocrm.markets.scaffold` so the hook, which runs in a Python of its
own for every render (a new market, and twice for each ``regiocrm market update``), imports
Babel and the catalogs only, not the plugin machinery.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from regiocrm.platform.i18n import DOMAIN, SOURCE_LOCALE, core_catalogs, translations


def write_catalogs(package: Path, locales: list[str]) -> list[Path]:
    """The market's message catalogs, one per language but the source one, started from the
    core's: what the core has translated for that language is filled in, the rest is left
    for the rollout team. The core's template goes beside them, so ``regiocrm translations
    check`` measures them."""
    folder = package / "locale"
    folder.mkdir(exist_ok=True)
    core = core_catalogs()
    template_text = (core / f"{DOMAIN}.pot").read_bytes()
    (folder / f"{DOMAIN}.pot").write_bytes(template_text)
    with (core / f"{DOMAIN}.pot").open("rb") as handle:
        core_template = read_po(handle)
    messages = [(m.id, m.flags) for m in core_template if isinstance(m.id, str) and m.id]
    # Dated as the core's template, not now: the same regiocrm writes the same catalogs,
    # so rendering a market again (``market update``) finds nothing changed in them.
    dated = core_template.creation_date
    written = []
    for locale in locales:
        parsed = Locale.parse(locale)
        if parsed.language == SOURCE_LOCALE:
            continue
        known = translations(str(parsed))
        catalog = Catalog(
            locale=parsed,
            domain=DOMAIN,
            project=package.name,
            creation_date=dated,
            revision_date=dated,
        )
        for message_id, flags in messages:
            translated = known.gettext(message_id)
            catalog.add(
                message_id, translated if translated != message_id else "", flags=flags - {"fuzzy"}
            )
        target = folder / str(parsed) / "LC_MESSAGES"
        target.mkdir(parents=True, exist_ok=True)
        with (target / f"{DOMAIN}.po").open("wb") as handle:
            write_po(handle, catalog, width=100)
        with (target / f"{DOMAIN}.mo").open("wb") as handle:
            write_mo(handle, catalog)
        written.append(target / f"{DOMAIN}.po")
    return written


def finish(project: Path, values: Mapping[str, str]) -> None:
    """What the post-generation hook does: the catalogs for the market's languages, no
    conformance tests when none of its channels ships a driver, and no bytecode an
    installer compiled from the template's own files (pip compiles package data too)."""
    for cache in list(project.rglob("__pycache__")):
        shutil.rmtree(cache)
    locales = [locale.strip() for locale in values["locales"].split(",")]
    write_catalogs(project / values["__package_name"], [locale for locale in locales if locale])
    if not values.get("__conformance"):
        (project / "tests" / "test_channels.py").unlink()
