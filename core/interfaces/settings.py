"""The settings contract: the section a plugin contributes through ``register_settings``
and the base its model subclasses. The root model that assembles them is
:mod:`regiocrm.platform.settings`."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Base for settings sections: an unknown key is an error, not silently ignored, and so
    is a number that is not finite (``nan`` compares false with every limit, so no bound
    would catch it)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


@dataclass(frozen=True)
class SettingsSection:
    """A plugin's settings section, as returned by the ``register_settings`` hook.

    :param name: the TOML table and environment prefix of the section (``[name]``,
        ``REGIOCRM_NAME__...``), lower-case.
    :param model: a pydantic model for the section; subclass :class:`Section` so unknown
        keys are rejected.
    """

    name: str
    model: type[BaseModel]
