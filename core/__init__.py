"""regiocrm: one CRM core, adapted per market by country packs.

Plugin authors need only what is exported here: the ``hookimpl`` marker and the types the
hooks take and return. Everything else is an implementation detail of the core.
"""

from importlib.metadata import PackageNotFoundError, version

from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.calendars import BusinessCalendar, Service
from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.formats import Address, PersonName
from regiocrm.interfaces.identities import InvalidIdentity, NormalizedIdentity
from regiocrm.interfaces.packs import MarketProfile, Pack, PackSpec
from regiocrm.models.base import Model
from regiocrm.platform.settings import SettingsSection

try:
    __version__ = version("regiocrm")
except PackageNotFoundError:  # pragma: no cover - only when run from an uninstalled tree
    __version__ = "0+unknown"

__all__ = [
    "Address",
    "BusinessCalendar",
    "DataClass",
    "InvalidIdentity",
    "MarketProfile",
    "Model",
    "NormalizedIdentity",
    "Pack",
    "PackSpec",
    "PersonName",
    "Service",
    "SettingsSection",
    "__version__",
    "hookimpl",
]
