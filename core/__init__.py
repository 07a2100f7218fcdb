"""regiocrm: one CRM core, adapted per market by country packs.

Plugin authors need only what is exported here: the ``hookimpl`` marker and the types the
hooks take and return (a test ties every type a hook specification names to ``__all__``).
The contract types themselves live in :mod:`regiocrm.interfaces`; everything else is an
implementation detail of the core.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.calendars import BusinessCalendar, Service
from regiocrm.interfaces.channels import Channel, ChannelAccount, InboundMessage
from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.event_sources import EventSource, EventSourceSettings, SourceControl
from regiocrm.interfaces.events import VehicleEvent
from regiocrm.interfaces.formats import Address, PersonName
from regiocrm.interfaces.identities import InvalidIdentity, NormalizedIdentity
from regiocrm.interfaces.maps import MapProvider
from regiocrm.interfaces.packs import MarketProfile, Pack, PackSpec
from regiocrm.interfaces.rollout import Finding, Outcome, RolloutCheck, Target
from regiocrm.interfaces.settings import Section, SettingsSection

if TYPE_CHECKING:
    from regiocrm.models.base import Model
    from regiocrm.services import Services

try:
    __version__ = version("regiocrm")
except PackageNotFoundError:  # pragma: no cover - only when run from an uninstalled tree
    __version__ = "0+unknown"

__all__ = [
    "Address",
    "BusinessCalendar",
    "Channel",
    "ChannelAccount",
    "DataClass",
    "EventSource",
    "EventSourceSettings",
    "Finding",
    "InboundMessage",
    "InvalidIdentity",
    "MapProvider",
    "MarketProfile",
    "Model",
    "NormalizedIdentity",
    "Outcome",
    "Pack",
    "PackSpec",
    "PersonName",
    "RolloutCheck",
    "Section",
    "Service",
    "Services",
    "SettingsSection",
    "SourceControl",
    "Target",
    "VehicleEvent",
    "__version__",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    # Both stand on the database: loaded when a plugin asks for them (an entity of its own,
    # the handle its event hooks receive), so that one implementing a channel or a pack
    # does not load SQLAlchemy.
    if name == "Model":
        from regiocrm.models.base import Model

        return Model
    if name == "Services":
        from regiocrm.services import Services

        return Services
    raise AttributeError(f"module 'regiocrm' has no attribute {name!r}")
