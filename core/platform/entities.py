"""The deployment's entities: every model a plugin registers through ``register_models``.

The core registers its own tables through the same hook (:mod:`regiocrm.models`). What
follows the entities, rather than a list of its own: residency's write guard, its report and
``residency migrate`` (every registered table), storage accounting (the tables naming an
organization) and the customer export (the tables naming a customer).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.packs import PackRegistry
from regiocrm.models.base import Base, Model, PlacedBy
from regiocrm.platform.plugins import PluginError


class EntityError(PluginError):
    """A plugin registered something that cannot be an entity, or one residency cannot place."""


class Entities:
    """The registered models, parents before the tables that refer to them.

    Build them with :meth:`collect`, which checks each against the installed packs.
    """

    def __init__(self, registered: Iterable[tuple[type[Model], str]]) -> None:
        plugins = dict(registered)
        order = {table.name: index for index, table in enumerate(Base.metadata.sorted_tables)}
        self.models: tuple[type[Model], ...] = tuple(
            sorted(plugins, key=lambda model: order[model.__tablename__])
        )
        self._plugins = plugins
        self._by_table = {model.__tablename__: model for model in self.models}

    @classmethod
    def collect(cls, contributions: Iterable[tuple[str, Any]], packs: PackRegistry) -> Entities:
        """The models each plugin contributed, checked.

        :param contributions: each plugin's name with what its ``register_models`` returned.
        :param packs: the installed packs, whose rules must place every entity's class.
        :raises EntityError: naming the plugin and the model, for a model that is no mapped
            :class:`regiocrm.Model` (the metadata already refuses two tables of one name),
            or one whose data class no pack places.
        """
        placed = _placed_classes(packs)
        found: dict[type[Model], str] = {}
        for plugin, models in contributions:
            for model in models:
                if not _is_entity(model):
                    raise EntityError(
                        f"plugin {plugin!r} registers {model!r} as a model: register subclasses"
                        " of regiocrm.Model that have a table"
                    )
                data_class = model.__data_class__
                if model.__placed_by__ is PlacedBy.MARKET and data_class not in placed:
                    raise EntityError(
                        f"plugin {plugin!r} registers model {model.__name__} of data class"
                        f" {data_class.value!r}, which no installed pack places: add a"
                        f" residency rule for {data_class.value!r} to the pack of each market"
                        " it serves"
                    )
                found.setdefault(model, plugin)
        return cls(found.items())

    def __iter__(self) -> Iterator[type[Model]]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    def __contains__(self, model: object) -> bool:
        return model in self._plugins

    def by_table(self, name: str) -> type[Model] | None:
        """The registered model of a table, by the table's name."""
        return self._by_table.get(name)

    def plugin_of(self, model: type[Model]) -> str:
        """The plugin that registered the model."""
        return self._plugins[model]

    def data_classes(self) -> list[DataClass]:
        """The classes of the entities residency places by market, the core's first."""
        classes = {m.__data_class__ for m in self.models if m.__placed_by__ is PlacedBy.MARKET}
        return [*(c for c in DataClass if c in classes), *sorted(classes - set(DataClass))]

    def of_organizations(self) -> list[type[Model]]:
        """The entities whose rows are an organization's data: what its storage counts."""
        return [model for model in self.models if model.__organization_column__ is not None]


def _is_entity(model: Any) -> bool:
    return (
        isinstance(model, type)
        and issubclass(model, Model)
        and getattr(model, "__table__", None) is not None
        and Base.metadata.tables.get(model.__tablename__) is model.__table__
    )


def _placed_classes(packs: PackRegistry) -> set[DataClass]:
    """Every class some installed pack has a residency rule for."""
    placed: set[DataClass] = set()
    for pack in packs:
        placed.update(pack.residency)
        for market in pack.markets.values():
            placed.update(market.residency)
    return placed
