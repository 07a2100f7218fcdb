"""A typed facade over the plugin manager's hooks.

Core code calls ``hooks.format_name(name=..., market=...)`` rather than
``pm.hook.format_name(...)``, so every call site is type-checked, every hook call lives in
one place, and a behaviour hook that no plugin answers fails with a clear message.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from regiocrm.interfaces.calendars import BusinessCalendar, Service
from regiocrm.interfaces.channels import Channel, ChannelAccount, ChannelRegistry, InboundMessage
from regiocrm.interfaces.event_sources import EventSource
from regiocrm.interfaces.formats import Address, PersonName
from regiocrm.interfaces.identities import NormalizedIdentity
from regiocrm.interfaces.maps import MapProvider
from regiocrm.interfaces.packs import PackRegistry, resolve_packs
from regiocrm.platform.entities import Entities
from regiocrm.platform.i18n import core_catalogs
from regiocrm.platform.plugins import get_plugin_manager

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    import typer
    from fastapi import APIRouter

    from regiocrm.interfaces.rollout import RolloutCheck
    from regiocrm.interfaces.settings import SettingsSection
    from regiocrm.platform.settings import RegiocrmSettings


T = TypeVar("T")


Named = TypeVar("Named", Channel, MapProvider)


def _by_name(contributions: list[list[Named]], what: str) -> dict[str, Named]:
    """What the plugins contributed, by name, in registration order.

    :raises PluginConflict: when two contributions share a name.
    """
    found: dict[str, Named] = {}
    for contributed in reversed(contributions):
        for item in contributed:
            if item.name in found:
                raise PluginConflict(f"two plugins register {what} named {item.name!r}")
            found[item.name] = item
    return found


class PluginConflict(Exception):
    """Two plugins register a channel, a map provider or an event source kind under the
    same name."""


class NoAnswer(LookupError):
    """No plugin answered a behaviour hook (its built-in fallback was disabled)."""


class Hooks:
    """Typed, keyword-only access to every hook of one plugin manager."""

    def __init__(self, pm: pluggy.PluginManager | None = None) -> None:
        self.pm = pm if pm is not None else get_plugin_manager()
        self._packs: tuple[frozenset[int], PackRegistry] | None = None
        self._services: Callable[[], object] | None = None
        self._entities: tuple[frozenset[int], Entities] | None = None

    def with_services(self, services: Callable[[], object]) -> Hooks:
        """These hooks, handing each event hook the handle ``services()`` returns as its
        ``services`` argument (:class:`regiocrm.services.Services`, which the application
        builds over itself); the hooks without one hand ``None``, where code drives the
        domain without an application (some tests)."""
        bound = Hooks(self.pm)
        bound._packs = self._packs  # resolved already, most likely: for the settings
        bound._entities = self._entities
        bound._services = services
        return bound

    def _handle(self) -> object:
        return None if self._services is None else self._services()

    # contributions

    def settings_sections(self) -> list[SettingsSection]:
        return [s for sections in self.pm.hook.register_settings() for s in sections]

    def add_commands(self, *, cli: typer.Typer) -> None:
        self.pm.hook.register_commands(cli=cli)

    def routers(self) -> list[APIRouter]:
        # pluggy calls the most recently registered plugin first; routes are included in
        # registration order so that built-ins come before installed plugins.
        return [r for routers in reversed(self.pm.hook.register_routes()) for r in routers]

    def migration_locations(self) -> list[Path]:
        paths = [Path(p) for paths in self.pm.hook.register_migrations() for p in paths]
        return list(dict.fromkeys(paths))

    def catalog_folders(self) -> dict[str, Traversable]:
        """The ``locale/`` folders that plugin packages ship, by plugin name, in registration
        order, so that a pack installed later rewords what the core and earlier plugins say."""
        core = core_catalogs()
        folders: dict[str, Traversable] = {}
        for name, plugin in self.pm.list_name_plugin():
            package = getattr(plugin, "__package__", None)
            if not package:
                continue
            folder = files(package) / "locale"
            if folder != core and folder not in folders.values() and folder.is_dir():
                folders[name] = folder
        return folders

    def rollout_checks(self) -> list[RolloutCheck]:
        """Every plugin's rollout checks, the core's first."""
        return [c for checks in reversed(self.pm.hook.register_rollout_checks()) for c in checks]

    def channels(self) -> dict[str, Channel]:
        """Every registered channel by name.

        :raises PluginConflict: when two plugins register channels of the same name.
        """
        return _by_name(self.pm.hook.register_channels(), "a channel")

    def map_providers(self) -> dict[str, MapProvider]:
        """Every registered map provider by name.

        :raises PluginConflict: when two plugins register providers of the same name.
        """
        return _by_name(self.pm.hook.register_map_providers(), "a map provider")

    def event_sources(self) -> dict[str, EventSource]:
        """Every registered kind of event source, by kind.

        :raises PluginConflict: when two plugins register the same kind.
        """
        found: dict[str, EventSource] = {}
        for contributed in reversed(self.pm.hook.register_event_sources()):
            for source in contributed:
                if source.kind in found:
                    raise PluginConflict(
                        f"two plugins register event sources of kind {source.kind!r}"
                    )
                found[source.kind] = source
        return found

    def channel_registry(self, settings: RegiocrmSettings) -> ChannelRegistry:
        """The deployment's channels and its configured accounts on them."""
        channels = self.channels()
        accounts = {
            name: ChannelAccount(name, credentials.channel, credentials.market, credentials)
            for name, credentials in settings.channel_accounts.items()
        }
        return ChannelRegistry(channels, accounts)

    def packs(self) -> PackRegistry:
        """Every registered pack, resolved; recomputed only when the plugins change.

        :raises regiocrm.interfaces.packs.PackError: when a pack cannot be loaded.
        """
        plugins = frozenset(id(plugin) for plugin in self.pm.get_plugins())
        if self._packs is None or self._packs[0] != plugins:
            specs = [spec for specs in reversed(self.pm.hook.register_packs()) for spec in specs]
            self._packs = (plugins, PackRegistry(resolve_packs(specs)))
        return self._packs[1]

    def entities(self) -> Entities:
        """Every registered model, checked against the packs' rules; recomputed only when
        the plugins change.

        :raises regiocrm.platform.entities.EntityError: naming the plugin, the model and
            the class, for a model whose data class no installed pack places.
        :raises regiocrm.interfaces.packs.PackError: when a pack cannot be loaded.
        """
        plugins = frozenset(id(plugin) for plugin in self.pm.get_plugins())
        if self._entities is None or self._entities[0] != plugins:
            contributed: list[tuple[str, Any]] = [
                (impl.plugin_name, impl.function())
                for impl in self.pm.hook.register_models.get_hookimpls()
            ]
            self._entities = (plugins, Entities.collect(contributed, self.packs()))
        return self._entities[1]

    # behaviour

    def format_name(self, *, name: PersonName, market: str) -> str:
        pack = self.packs().for_market(market)
        written: str | None = self.pm.hook.format_name(name=name, market=market, pack=pack)
        return self._answer("format_name", written)

    def format_address(self, *, address: Address, market: str, latin: bool = False) -> str:
        pack = self.packs().for_market(market)
        caller = self.pm.hook.format_address
        if latin:
            # An implementation that takes no ``latin`` would answer in the country's script.
            unaware = [
                impl.plugin for impl in caller.get_hookimpls() if "latin" not in impl.argnames
            ]
            if unaware:
                caller = self.pm.subset_hook_caller("format_address", unaware)
        written: str | None = caller(address=address, market=market, pack=pack, latin=latin)
        return self._answer("format_address", written)

    def normalize_identity(self, *, kind: str, value: str, market: str) -> NormalizedIdentity:
        """The canonical form of an identity; kinds no plugin knows are only trimmed.

        :raises regiocrm.interfaces.identities.InvalidIdentity: with the reason the value is
            refused.
        """
        answer: NormalizedIdentity | None = self.pm.hook.normalize_identity(
            kind=kind, value=value, market=market
        )
        return answer if answer is not None else NormalizedIdentity(kind, value.strip())

    def business_calendar(
        self, *, market: str, service: Service = Service.OFFICE, subdivision: str | None = None
    ) -> BusinessCalendar:
        """The market's calendar, or that of an organization in ``subdivision`` of it."""
        pack = self.packs().for_market(market)
        calendar: BusinessCalendar | None = self.pm.hook.business_calendar(
            market=market, pack=pack, service=service, subdivision=subdivision
        )
        return self._answer("business_calendar", calendar)

    def due_at(
        self,
        *,
        market: str,
        start: datetime,
        duration: timedelta,
        service: Service = Service.OFFICE,
        subdivision: str | None = None,
    ) -> datetime:
        """When ``duration`` of business time has passed after ``start`` (UTC), on the
        market's calendar, or on that of an organization in ``subdivision`` of it."""
        calendar = self.business_calendar(market=market, service=service, subdivision=subdivision)
        return calendar.due(start, duration)

    def auto_reply(
        self, *, message: InboundMessage, account: ChannelAccount, locale: str
    ) -> str | None:
        reply: str | None = self.pm.hook.auto_reply(message=message, account=account, locale=locale)
        return reply

    # events

    def message_received(
        self,
        *,
        message: InboundMessage,
        account: ChannelAccount,
        customer_id: uuid.UUID,
        interaction_id: uuid.UUID,
    ) -> None:
        self.pm.hook.message_received(
            message=message,
            account=account,
            customer_id=customer_id,
            interaction_id=interaction_id,
            services=self._handle(),
        )

    def lead_created(self, *, lead_id: uuid.UUID, market: str, dealer_id: uuid.UUID | None) -> None:
        self.pm.hook.lead_created(
            lead_id=lead_id, market=market, dealer_id=dealer_id, services=self._handle()
        )

    def customer_merged(
        self,
        *,
        survivor_id: uuid.UUID,
        merged_id: uuid.UUID,
        reason: str,
        actor_id: uuid.UUID | None,
    ) -> None:
        self.pm.hook.customer_merged(
            survivor_id=survivor_id,
            merged_id=merged_id,
            reason=reason,
            actor_id=actor_id,
            services=self._handle(),
        )

    def case_transitioned(
        self,
        *,
        case_id: uuid.UUID,
        market: str,
        previous: str | None,
        status: str,
        reason: str,
        actor_id: uuid.UUID | None,
    ) -> None:
        self.pm.hook.case_transitioned(
            case_id=case_id,
            market=market,
            previous=previous,
            status=status,
            reason=reason,
            actor_id=actor_id,
            services=self._handle(),
        )

    def residency_moved(
        self, *, market: str, data_class: str, source: str, target: str, rows: int
    ) -> None:
        self.pm.hook.residency_moved(
            market=market,
            data_class=data_class,
            source=source,
            target=target,
            rows=rows,
            services=self._handle(),
        )

    @staticmethod
    def _answer(hook: str, answer: T | None) -> T:
        if answer is None:
            raise NoAnswer(f"no plugin answered {hook}: is the asia template pack disabled?")
        return answer
