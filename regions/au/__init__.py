"""``au``: Australia, the template "adopted with modifications": given name first,
addresses from the smallest unit up, WhatsApp, SMS and e-mail."""

from __future__ import annotations

from regiocrm import DataClass, hookimpl
from regiocrm.interfaces.packs import MarketProfile, NameOrder, PackSpec, ResidencyRule


@hookimpl
def register_packs() -> list[PackSpec]:
    in_australia = ResidencyRule(zones=("au",))
    return [
        PackSpec.declare(
            code="au",
            extends="asia",
            name="Australia",
            markets={"AU": MarketProfile(locale="en_AU")},
            locales=("en_AU",),
            currency="AUD",
            timezones=(
                "Australia/Sydney",
                "Australia/Melbourne",
                "Australia/Brisbane",
                "Australia/Adelaide",
                "Australia/Perth",
                "Australia/Darwin",
                "Australia/Hobart",
            ),
            name_order=NameOrder.GIVEN_FIRST,
            name_separator=" ",
            channels=("whatsapp", "sms", "email"),
            # Excel on Windows saves an English CSV in code page 1252 unless told UTF-8.
            file_encodings=("cp1252",),
            map_providers=("google", "gazetteer"),
            residency={
                **dict.fromkeys(DataClass, in_australia),
                DataClass.IDENTITY: ResidencyRule(zones=("au",), export_requires=("consent",)),
                DataClass.FINANCIAL: ResidencyRule(zones=("au",), export_requires=("consent",)),
            },
        )
    ]
