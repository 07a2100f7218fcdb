"""Entities plugins add: models registered through ``register_models``, each with its data
class, and everything residency, storage and the export derive from them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pluggy
import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy import String, Table, insert
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm import hookimpl
from regiocrm.crm.accounts import create_organization
from regiocrm.crm.customers import Customers
from regiocrm.hookspecs import hookspec
from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.packs import PackSpec, ResidencyRule
from regiocrm.models import Base, Customer, Model, OrganizationKind
from regiocrm.platform.entities import EntityError
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import SettingsError, load_settings
from regiocrm.platform.stores import ZoneStores, table_of
from regiocrm.residency.exports import customer_document
from regiocrm.residency.relocation import survey
from regiocrm.residency.rules import ResidencyError
from regiocrm.residency.storage import Storage
from regiocrm.testing import upgrade_zones

VIDEO = DataClass("video")


def throwaway(name: str, data_class: DataClass, **attributes: Any) -> type[Model]:
    """A model mapped for one test: its table is taken off the shared metadata afterwards,
    so the models still match the migrations for every other test."""
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__data_class__": data_class,
        "__annotations__": {
            "customer_id": Mapped[uuid.UUID],
            "organization_id": Mapped[uuid.UUID],
            "note": Mapped[str],
        },
        "note": mapped_column(String(40)),
        **attributes,
    }
    return type(name, (Model,), namespace)


@pytest.fixture
def models() -> Iterator[list[type[Model]]]:
    made: list[type[Model]] = []
    yield made
    for model in made:
        Base.metadata.remove(table_of(model))


class Plugin:
    def __init__(self, *models: Any) -> None:
        self.models = list(models)

    @hookimpl
    def register_models(self) -> list[Any]:
        return self.models


def test_hook_register_models(
    deployment_dir: Path, regiocrm_hooks: Hooks, register_plugin: Any, models: list[type[Model]]
) -> None:
    visit = throwaway(
        "HookVisit",
        DataClass.CRM,
        __customer_column__="customer_id",
        __organization_column__="organization_id",
    )
    models.append(visit)
    register_plugin(Plugin(visit), name="visits")
    entities = regiocrm_hooks.entities()
    assert visit in entities
    assert entities.plugin_of(visit) == "visits"
    assert entities.by_table("hook_visits") is visit
    assert visit in entities.of_organizations()

    stores = ZoneStores.open(load_settings(regiocrm_hooks), regiocrm_hooks)
    upgrade_zones(stores, regiocrm_hooks)
    for zone in stores.names:
        table_of(visit).create(stores.engine(zone))
    with stores.session() as session:
        dealer = create_organization(
            session, name="Osaka Motors", kind=OrganizationKind.DEALER, market="JP"
        )
        customer = Customer(market="JP", given_name="Aoi")
        session.add(customer)
        session.flush()
        session.add(
            visit(market="JP", customer_id=customer.id, organization_id=dealer.id, note="test")
        )
    try:
        held = [h for s in survey(stores) for h in s.holdings if h.model is visit]
        assert [(h.market, h.rows, h.status.value) for h in held] == [("JP", 1, "ok")]

        storage = Storage(stores, regiocrm_hooks, load_settings(regiocrm_hooks).storage)
        [forecast] = [f for f in storage.forecasts() if f.organization_id == dealer.id]
        assert forecast.used_mib.get(DataClass.CRM, 0) > 0

        with stores.session() as session:
            found = session.get(Customer, customer.id)
            assert found is not None
            document = customer_document(session, Customers(session, regiocrm_hooks), found)
        [row] = document["data"]["crm"]["hook_visits"]
        assert row["note"] == "test"
    finally:
        stores.dispose()


def test_a_data_class_no_pack_places_stops_the_start_up(
    deployment_dir: Path, regiocrm_hooks: Hooks, register_plugin: Any, models: list[type[Model]]
) -> None:
    clip = throwaway("UnplacedClip", VIDEO)
    models.append(clip)
    register_plugin(Plugin(clip), name="dashcams")
    with pytest.raises(EntityError) as exc:
        regiocrm_hooks.entities()
    message = str(exc.value)
    assert "'dashcams'" in message
    assert "UnplacedClip" in message
    assert "'video'" in message

    with pytest.raises(SettingsError) as settings_exc:
        load_settings(regiocrm_hooks)
    assert "plugins" in str(settings_exc.value)
    assert "UnplacedClip" in str(settings_exc.value)


class VideoPack:
    """A pack placing the plugin's class for one market, as a market's own pack would."""

    @hookimpl
    def register_packs(self) -> list[PackSpec]:
        return [
            PackSpec.declare(
                code="sg_video",
                extends="asia",
                name="Singapore",
                locales=("en",),
                markets={
                    "SG": {
                        "locale": "en_SG",
                        "currency": "SGD",
                        "timezone": "Asia/Singapore",
                        "residency": {VIDEO: ResidencyRule(zones=("sg",))},
                    }
                },
            )
        ]


def test_a_plugin_data_class_is_placed_by_a_pack_rule(
    deployment_dir: Path, regiocrm_hooks: Hooks, register_plugin: Any, models: list[type[Model]]
) -> None:
    clip = throwaway("PlacedClip", VIDEO)
    models.append(clip)
    register_plugin(VideoPack())
    register_plugin(Plugin(clip))
    assert VIDEO in regiocrm_hooks.entities().data_classes()
    settings = load_settings(regiocrm_hooks)
    stores = ZoneStores.open(settings, regiocrm_hooks)
    try:
        assert stores.residency.zone_for("SG", VIDEO) == "sg"
        values = {"market": "SG", "customer_id": uuid.uuid4(), "organization_id": uuid.uuid4()}
        assert stores.residency.zone_of(clip, values) == "sg"
        assert not stores.residency.allows_row(clip, values, "jp")
        # Markets whose packs do not place the class cannot keep such rows anywhere.
        with pytest.raises(ResidencyError, match="video data of market 'JP'"):
            stores.residency.zone_of(clip, {**values, "market": "JP"})
    finally:
        stores.dispose()


@pytest.mark.parametrize(
    ("contributed", "expected"),
    [
        (["not a model"], "registers 'not a model' as a model"),
        ([Customer, Customer], None),
    ],
    ids=["not-a-model", "same-model-twice"],
)
def test_what_a_plugin_registers_is_checked(
    regiocrm_hooks: Hooks, register_plugin: Any, contributed: list[Any], expected: str | None
) -> None:
    register_plugin(Plugin(*contributed), name="odd")
    if expected is None:
        assert Customer in regiocrm_hooks.entities()
        assert regiocrm_hooks.entities().plugin_of(Customer) == "regiocrm.models"
        return
    with pytest.raises(EntityError, match=expected) as exc:
        regiocrm_hooks.entities()
    assert "'odd'" in str(exc.value)


def test_the_write_guard_refuses_a_table_whose_model_is_not_registered(
    migrated: ZoneStores, models: list[type[Model]]
) -> None:
    stray = throwaway("StrayNote", DataClass.CRM)
    models.append(stray)
    table: Table = table_of(stray)
    table.create(migrated.engine("main"))
    row = {
        "id": uuid.uuid4(),
        "market": "JP",
        "customer_id": uuid.uuid4(),
        "organization_id": uuid.uuid4(),
        "note": "x",
        "created": datetime.now(UTC),
        "updated": datetime.now(UTC),
    }
    with (
        pytest.raises(ResidencyError, match="stray_notes is not registered"),
        migrated.engine("main").begin() as connection,
    ):
        connection.execute(insert(table), [row])


class Placement(BaseModel):
    placement: dict[DataClass, str]


def test_data_classes_are_open_names() -> None:
    assert list(DataClass) == [
        DataClass.IDENTITY,
        DataClass.CRM,
        DataClass.FINANCIAL,
        DataClass.TELEMATICS,
        DataClass.AUDIT,
    ]
    assert DataClass("crm") == DataClass.CRM == "crm"
    assert DataClass("video").value == "video"
    assert VIDEO not in list(DataClass)
    assert Placement.model_validate({"placement": {"video": "sg"}}).placement == {VIDEO: "sg"}
    for bad in ("Video", "", "a-b", "directory", "export"):
        with pytest.raises(ValueError, match="data class"):
            DataClass(bad)
    with pytest.raises(ValidationError):
        Placement.model_validate({"placement": {"Not a class": "sg"}})


class ReminderEvents:
    @hookspec
    def reminder_sent(self, reminder_id: uuid.UUID) -> None:
        """A reminder went out."""


class Reminders:
    @hookimpl
    def add_hookspecs(self, pm: pluggy.PluginManager) -> None:
        pm.add_hookspecs(ReminderEvents)


class Listener:
    def __init__(self) -> None:
        self.heard: list[uuid.UUID] = []

    @hookimpl
    def reminder_sent(self, reminder_id: uuid.UUID) -> None:
        self.heard.append(reminder_id)


def test_hook_add_hookspecs(plugin_manager: pluggy.PluginManager, register_plugin: Any) -> None:
    listener = Listener()
    register_plugin(Reminders())
    register_plugin(listener)
    plugin_manager.check_pending()
    reminder = uuid.uuid4()
    plugin_manager.hook.reminder_sent(reminder_id=reminder)
    assert listener.heard == [reminder]
    with pytest.raises(TypeError):
        plugin_manager.hook.reminder_sent(reminder)


def test_rollout_fails_a_market_whose_pack_does_not_place_a_plugins_class(
    regiocrm_cli: Any, register_plugin: Any, models: list[type[Model]]
) -> None:
    clip = throwaway("CheckedClip", VIDEO)
    models.append(clip)
    register_plugin(VideoPack())
    register_plugin(Plugin(clip))
    assert regiocrm_cli("db", "upgrade").exit_code == 0

    result = regiocrm_cli("rollout", "check", "--market", "JP", "--json")

    assert result.exit_code == 1, result.output
    found = {f["check"]: f for f in json.loads(result.stdout)}
    assert found["residency video"]["outcome"] == "fail"
    assert found["residency video"]["reason"] == "no rule of the market's pack places video data"
    assert found["residency"]["outcome"] == "pass"
    assert "video" not in found["residency"]["reason"]
