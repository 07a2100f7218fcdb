"""``{{ cookiecutter.__pack_code }}``: {{ cookiecutter.country_name }}, rolled out from the ``{{ cookiecutter.extends }}`` template.

The pack sets only what {{ cookiecutter.country_name }} changes against ``{{ cookiecutter.extends }}``
(``regiocrm packs diff {{ cookiecutter.__pack_code }}`` shows it) and registers its own migration branch.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from regiocrm import DataClass, hookimpl
from regiocrm.interfaces.packs import MarketProfile, PackSpec, ResidencyRule

MARKET = "{{ cookiecutter.country_code }}"
# Every class of the market's data in its own zone; taking it out needs the person's consent
# until the competence centre has written the market's own rules here.
RESIDENCY = dict.fromkeys(DataClass, ResidencyRule(zones=("{{ cookiecutter.zone }}",), export_requires=("consent",)))


@hookimpl
def register_packs() -> list[PackSpec]:
    return [
        PackSpec.declare(
            code="{{ cookiecutter.__pack_code }}",
            extends="{{ cookiecutter.extends }}",
            name="{{ cookiecutter.country_name }}",
            currency="{{ cookiecutter.currency }}",
            timezones={{ cookiecutter.__timezones.split(",") | jsonify(None) }},
            markets={
                MARKET: MarketProfile(
                    locale="{{ cookiecutter.default_locale }}",
                    currency="{{ cookiecutter.currency }}",
                    timezone="{{ cookiecutter.timezone }}",
                )
            },
{%- if cookiecutter.locales != cookiecutter.__parent_locales %}
            locales={{ cookiecutter.locales.split(",") | jsonify(None) }},
{%- endif %}
{%- if cookiecutter.channels != cookiecutter.__parent_channels %}
            channels={{ cookiecutter.channels.split(",") | reject("equalto", "") | list | jsonify(None) }},
{%- endif %}
{%- if cookiecutter.map_providers != cookiecutter.__parent_map_providers %}
            map_providers={{ cookiecutter.map_providers.split(",") | jsonify(None) }},
{%- endif %}
            residency=RESIDENCY,
        )
    ]


@hookimpl
def register_migrations() -> list[Path]:
    return [Path(str(files(__package__) / "migrations"))]
