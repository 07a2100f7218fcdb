"""The analytics export: every registered table of every zone as Parquet that DuckDB reads
back with the database's row counts, pseudonymised (no name, phone number, e-mail, address
or clear id in any file), personal data only as the residency rules allow, and bad input
refused before anything is written."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from analytics_world import (
    FIRST_DAY,
    KEY,
    OTHER_KEY,
    PEOPLE,
    World,
    cells,
    database_counts,
    keyed,
    populate,
    read,
)
from pydantic import SecretStr
from sqlalchemy import JSON, Enum, Integer, String, Text, delete, insert, select
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from regiocrm import hookimpl
from regiocrm.interfaces.data_classes import DataClass
from regiocrm.models import (
    AuditEvent,
    Base,
    Consent,
    ConsentAction,
    Customer,
    Interaction,
    Model,
    TransferAssessment,
)
from regiocrm.models.personal import Personal, not_personal, personal_of
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores, table_of
from regiocrm.residency import analytics
from regiocrm.residency.analytics import Pseudonyms, export_analytics, plan_table
from regiocrm.testing import CliResult, upgrade_zones

Cli = Callable[..., CliResult]

# The query docs/analytics.md shows, run on an export below.
# --8<-- [start:documented_query]
INBOUND_BY_DAY = """
SELECT i.market, i.day,
       count(*) AS messages,
       count(DISTINCT i.customer_id) AS customers,
       count(DISTINCT c.customer_id) AS with_a_contract
FROM read_parquet('lake/*/table=interactions/*/*.parquet', hive_partitioning = true) AS i
LEFT JOIN read_parquet('lake/*/table=contracts/*/*.parquet', hive_partitioning = true) AS c
  ON c.customer_id = i.customer_id
WHERE i.direction = 'inbound'
GROUP BY ALL
ORDER BY i.day, i.market
"""
# --8<-- [end:documented_query]


@pytest.fixture
def deployment(
    deployment_dir: Path, regiocrm_hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ZoneStores, World]]:
    """The small world, migrated and written, with the pseudonym key set, read in chunks
    smaller than a day's rows, so days and chunks cut across each other."""
    monkeypatch.setenv("REGIOCRM_ANALYTICS__PSEUDONYM_KEY", KEY)
    monkeypatch.setattr(analytics, "CHUNK_ROWS", 4)
    stores = ZoneStores.open(RegiocrmSettings(), regiocrm_hooks)
    upgrade_zones(stores, regiocrm_hooks)
    world = populate(stores)
    yield stores, world
    stores.dispose()


def export(cli: Cli, folder: Path, *extra: str) -> dict[str, Any]:
    done = cli("analytics", "export", "--to", str(folder), "--json", *extra)
    assert done.exit_code == 0, done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def market_of(world: World, customer: uuid.UUID) -> str:
    [market] = [m for m, f, g, *_rest in PEOPLE if world.customers[f + g] == customer]
    return market


def audited(stores: ZoneStores, action: str) -> list[AuditEvent]:
    with stores.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_the_export_reads_back_with_the_databases_counts_and_no_personal_data(
    deployment: tuple[ZoneStores, World], regiocrm_cli: Cli, deployment_dir: Path
) -> None:
    stores, world = deployment
    expected = database_counts(stores)
    assert {zone for zone, _table in expected} == {"main", "cn", "jp", "kr"}
    folder = deployment_dir / "lake"

    summary = export(regiocrm_cli, folder)

    counted = read(folder, 'SELECT zone, "table", count(*) FROM export GROUP BY ALL')
    assert {(zone, table): count for zone, table, count in counted} == expected
    reported = {
        (zone, table): rows
        for zone, tables in summary["rows"].items()
        for table, rows in tables.items()
        if rows
    }
    assert reported == expected
    assert summary["total_rows"] == sum(expected.values())
    assert len(summary["files"]) == len(list(folder.rglob("*.parquet")))
    assert "zone=cn/table=interactions/day=2026-11-28/part-0.parquet" in summary["files"]

    # No personal string in any value, nor anywhere in the files' bytes.
    values = cells(folder)
    for secret in world.personal:
        assert not [value for value in values if secret in value], secret
    raw = b"".join(path.read_bytes() for path in folder.rglob("*.parquet"))
    for secret in world.personal:
        if len(secret.encode()) >= 6:
            assert secret.encode() not in raw, secret

    # Ids are keyed hashes, the same in every table: customers join their timeline.
    hashed = {keyed(customer_id) for customer_id in world.customers.values()}
    customers = read(folder, "SELECT id FROM export WHERE \"table\" = 'customers'")
    assert {row[0] for row in customers} == hashed
    joined = read(
        folder,
        "SELECT count(*) FROM export i JOIN export c ON i.customer_id = c.id"
        " WHERE i.\"table\" = 'interactions' AND c.\"table\" = 'customers'",
    )
    assert joined == [(expected["cn", "interactions"] + expected["jp", "interactions"] + 2,)]
    assert read(folder, "SELECT DISTINCT vin FROM export WHERE vin IS NOT NULL ORDER BY 1") == [
        (h,) for h in sorted(keyed(vin) for vin in world.vins)
    ]

    # What is not personal leaves in clear, with its type.
    [(amount, currency, starts_on)] = read(
        folder,
        "SELECT DISTINCT amount, currency, typeof(starts_on) FROM export"
        " WHERE \"table\" = 'contracts'",
    )
    assert (str(amount), currency, starts_on) == ("189900.00", "CNY", "DATE")
    [(kind,)] = read(folder, "SELECT typeof(created) FROM export LIMIT 1")
    assert kind == "TIMESTAMP WITH TIME ZONE"

    # The documented query, as docs/analytics.md shows it (run in the folder holding lake/).
    assert duckdb.sql(INBOUND_BY_DAY).fetchall() == [
        ("CN", date(2026, 11, 28), 1, 1, 1),
        ("JP", date(2026, 11, 28), 1, 1, 1),
        ("CN", date(2026, 11, 29), 1, 1, 1),
        ("KR", date(2026, 11, 29), 1, 1, 1),
        ("CN", date(2026, 11, 30), 1, 1, 1),
        ("JP", date(2026, 12, 1), 1, 1, 1),
    ]

    # The export is in every market's trail, naming where it went and who ran it.
    events = audited(stores, "analytics.exported")
    assert sorted(event.market for event in events) == ["CN", "JP", "KR"]
    assert {event.detail["destination"] for event in events} == {str(folder)}
    assert {event.detail["with_personal_data"] for event in events} == {"no"}
    assert all(event.detail["operator"] for event in events)
    # Pseudonymised data is still personal data: the owner's alone, folders and files.
    for path in [folder, *folder.rglob("*")]:
        assert path.stat().st_mode & 0o077 == 0, path


def test_hashes_are_the_same_in_every_export_and_differ_with_another_key(
    deployment: tuple[ZoneStores, World],
    regiocrm_cli: Cli,
    deployment_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    query = "SELECT customer_id FROM export WHERE \"table\" = 'identities' ORDER BY 1"
    export(regiocrm_cli, deployment_dir / "first")
    export(regiocrm_cli, deployment_dir / "second")
    first = read(deployment_dir / "first", query)
    assert first == read(deployment_dir / "second", query)
    assert len(first) == 12

    monkeypatch.setenv("REGIOCRM_ANALYTICS__PSEUDONYM_KEY", OTHER_KEY)
    export(regiocrm_cli, deployment_dir / "third")
    third = read(deployment_dir / "third", query)
    assert len(third) == len(first)
    assert not {row[0] for row in third} & {row[0] for row in first}
    # The same folder with another key would mix hashes that do not join: refused.
    mixed = regiocrm_cli("analytics", "export", "--to", str(deployment_dir / "first"))
    assert mixed.exit_code == 2
    assert "pseudonymised with another key" in mixed.stderr
    assert read(deployment_dir / "first", query) == first


def test_since_rewrites_only_the_days_from_that_date(
    deployment: tuple[ZoneStores, World],
    regiocrm_cli: Cli,
    regiocrm_hooks: Hooks,
    deployment_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stores, world = deployment
    folder = deployment_dir / "lake"
    since = date(2026, 11, 30)
    summary = export(regiocrm_cli, folder, "--since", since.isoformat())
    days = {row[0] for row in read(folder, "SELECT DISTINCT day FROM export")}
    assert {date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)} <= days
    assert min(days) == since
    assert all("day=2026-11-2" not in path for path in summary["files"])

    # A full export, then a later one from a date: the earlier days are kept as they were,
    # the later ones rewritten; a day whose rows went is gone from the export.
    export(regiocrm_cli, folder)
    kept = folder / "zone=cn/table=customers/day=2026-11-28/part-0.parquet"
    before = kept.stat().st_mtime_ns
    customer = world.customers["张伟强"]
    with stores.session() as session:
        session.zone_connection("cn").execute(
            delete(table_of(Interaction)).where(table_of(Interaction).c.customer_id == customer)
        )
    # What the export sees: its own audit events are written after it read.
    expected = database_counts(stores)
    again = export(regiocrm_cli, folder, "--since", "2026-11-29")
    assert kept.stat().st_mtime_ns == before
    assert "zone=cn/table=interactions/day=2026-12-01/part-0.parquet" in again["removed"]
    assert not (folder / "zone=cn/table=interactions/day=2026-12-01").exists()
    counted = read(folder, 'SELECT zone, "table", count(*) FROM export GROUP BY ALL')
    assert {(zone, table): count for zone, table, count in counted} == expected
    assert not list(folder.rglob("*.part"))

    # An export that fails before its audit is committed leaves the folder as it was.
    files = {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}
    folders = {path for path in folder.rglob("*") if path.is_dir()}

    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(analytics, "_audit", full_disk)
    with pytest.raises(OSError, match="No space left"):
        export_analytics(stores, regiocrm_hooks, folder, key=SecretStr(KEY))
    assert {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()} == files
    assert {path for path in folder.rglob("*") if path.is_dir()} == folders


def test_bad_input_is_refused_with_the_reason_and_nothing_is_written(
    deployment: tuple[ZoneStores, World],
    regiocrm_cli: Cli,
    deployment_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stores, _world = deployment
    a_file = deployment_dir / "notes.txt"
    a_file.write_text("mine")
    cases = {
        ("--to", str(a_file)): f"Error: {a_file} is not a folder",
        ("--to", str(a_file / "lake")): f"Error: cannot create {a_file / 'lake'}:",
        ("--to", "lake", "--since", "2026-13-01"): "Error: --since '2026-13-01' is not a date",
        ("--to", str(deployment_dir)): "is not empty and holds no analytics export",
    }
    for args, reason in cases.items():
        refused = regiocrm_cli("analytics", "export", *args)
        assert refused.exit_code == 2, args
        assert reason in refused.stderr, (args, refused.stderr)
        assert "Traceback" not in refused.stderr

    monkeypatch.delenv("REGIOCRM_ANALYTICS__PSEUDONYM_KEY")
    refused = regiocrm_cli("analytics", "export", "--to", "lake")
    assert refused.exit_code == 2
    assert "no pseudonym key: set [analytics] pseudonym_key" in refused.stderr
    monkeypatch.setenv("REGIOCRM_ANALYTICS__PSEUDONYM_KEY", "short")
    refused = regiocrm_cli("analytics", "export", "--to", "lake")
    assert refused.exit_code == 2
    assert "a pseudonym key needs at least 32 characters (this one has 5)" in refused.stderr
    assert "short" not in refused.stderr.replace("this one", "")

    assert a_file.read_text() == "mine"
    assert not (deployment_dir / "lake").exists()
    assert not list(deployment_dir.rglob("*.parquet"))
    assert audited(stores, "analytics.exported") == []


def test_personal_data_leaves_only_as_the_rules_allow(
    deployment: tuple[ZoneStores, World], regiocrm_cli: Cli, deployment_dir: Path
) -> None:
    stores, world = deployment
    folder = deployment_dir / "personal"
    refused = regiocrm_cli("analytics", "export", "--to", str(folder), "--with-personal-data")
    assert refused.exit_code == 2
    reasons = refused.stderr.splitlines()
    # Mainland China needs an assessment for every class held; every market each customer's
    # consent, which none has given.
    assert (
        "Error: CN identity data needs an approved transfer assessment for file valid on"
    ) in refused.stderr
    assert any(
        line.startswith("Error: CN ") and "3 of 3 customers of CN have none in force" in line
        for line in reasons
    ), reasons
    assert any("2 of 2 customers of JP have none in force" in line for line in reasons)
    assert not folder.exists()
    refusals = audited(stores, "analytics.export_refused")
    assert sorted(event.market for event in refusals) == ["CN", "JP", "KR"]
    assert "assessment" in refusals[0].detail["missing"]

    # With what the rules require, it goes, ids and names in clear.
    with stores.session() as session:
        for data_class in DataClass:
            session.add(
                TransferAssessment(
                    market="CN",
                    data_class=data_class,
                    destination="file",
                    reference=f"CAC-{data_class.value}",
                    approved_on=FIRST_DAY,
                )
            )
        for customer in world.customers.values():
            session.add(
                Consent(
                    market=market_of(world, customer),
                    customer_id=customer,
                    purpose="export",
                    channel="file",
                    action=ConsentAction.GRANT,
                )
            )
    summary = export(regiocrm_cli, folder, "--with-personal-data")
    assert summary["with_personal_data"] is True
    assert summary["basis"]["CN identity"] == "every customer's consent, assessment CAC-identity"
    names = read(
        folder, "SELECT family_name || given_name FROM export WHERE \"table\" = 'customers'"
    )
    assert {name for (name,) in names} == set(world.customers)
    ids = read(folder, "SELECT id FROM export WHERE \"table\" = 'customers'")
    assert {uuid.UUID(i) for (i,) in ids} == set(world.customers.values())
    # Credentials never leave, personal data or not.
    columns = {row[0] for row in read(folder, "SELECT column_name FROM (DESCRIBE export)")}
    assert not {"token_hash", "password_hash", "csrf_hash"} & columns
    [event] = [e for e in audited(stores, "analytics.exported") if e.market == "CN"]
    assert event.detail["with_personal_data"] == "yes"
    assert event.detail["basis CN identity"] == "every customer's consent, assessment CAC-identity"
    # A pseudonymised export into that folder would mix the two: refused.
    mixed = regiocrm_cli("analytics", "export", "--to", str(folder))
    assert mixed.exit_code == 2
    assert "holds an export made with personal data" in mixed.stderr


class Visits:
    """A plugin with a table of its own, declaring nothing about its columns but one."""

    def __init__(self, model: type[Model]) -> None:
        self.model = model

    @hookimpl
    def register_models(self) -> list[type[Model]]:
        return [self.model]


@pytest.fixture
def visit_model() -> Iterator[type[Model]]:
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__data_class__": DataClass.CRM,
        "__customer_column__": "customer_id",
        "__annotations__": {
            "customer_id": Mapped[uuid.UUID],
            "nickname": Mapped[str],
            "notes": Mapped[str],
            "showroom": Mapped[str],
            "minutes": Mapped[int],
        },
        "nickname": mapped_column(String(40)),
        "notes": mapped_column(Text),
        "showroom": mapped_column(String(40), info=not_personal()),
        "minutes": mapped_column(Integer),
    }
    model = type("AnalyticsVisit", (Model,), namespace)
    yield model
    Base.metadata.remove(table_of(model))


def test_a_plugins_table_is_exported_and_pseudonymised_by_its_metadata(
    deployment: tuple[ZoneStores, World],
    regiocrm_cli: Cli,
    regiocrm_hooks: Hooks,
    register_plugin: Any,
    deployment_dir: Path,
    visit_model: type[Model],
) -> None:
    _stores, world = deployment
    register_plugin(Visits(visit_model), name="visits")
    visit = table_of(visit_model)
    customer = world.customers["佐藤花子"]
    stores = ZoneStores.open(RegiocrmSettings(), regiocrm_hooks)
    with stores.session() as session:
        connection = session.zone_connection("jp")
        visit.create(connection)
        connection.execute(
            insert(visit),
            {
                "id": uuid.uuid4(),
                "market": "JP",
                "customer_id": customer,
                "nickname": "Hana-chan",
                "notes": "Sato Hanako came with her husband",
                "showroom": "Ginza",
                "minutes": 45,
            },
        )
    for zone in stores.names:
        if zone != "jp":
            visit.create(stores.engine(zone))
    stores.dispose()
    assert {
        c.name: personal_of(c) for c in visit.columns if c.name not in ("created", "updated")
    } == {
        "id": Personal.KEY,
        "market": Personal.NO,
        "customer_id": Personal.KEY,
        "nickname": Personal.YES,
        "notes": Personal.YES,
        "showroom": Personal.NO,
        "minutes": Personal.NO,
    }

    folder = deployment_dir / "lake"
    summary = export(regiocrm_cli, folder)
    assert summary["rows"]["jp"]["analytics_visits"] == 1
    rows = read(
        folder,
        "SELECT customer_id, showroom, minutes FROM export WHERE \"table\" = 'analytics_visits'",
    )
    assert rows == [(keyed(customer), "Ginza", 45)]
    values = cells(folder)
    assert not [v for v in values if "Hana-chan" in v or "Sato Hanako" in v]


def test_every_core_text_column_in_clear_was_declared_so() -> None:
    """A text or JSON column leaves in clear only by its model's word: this list is what a
    reviewer agreed may leave, and a new one fails here until it is added."""
    reviewed = {
        "audit_events": {"action", "subject_type"},
        "campaign_members": {"channel", "locale"},
        "campaigns": {"name", "channels", "purpose"},
        "cases": {"service"},
        "consents": {"purpose", "channel"},
        "contracts": {"currency"},
        "conversations": {"channel", "touchpoint"},
        "customer_exports": {"destination"},
        "customers": {"preferred_locale"},
        "identities": {"kind"},
        "inbox_messages": {"channel", "channel_account"},
        "interactions": {"channel", "touchpoint"},
        "leads": {"source", "vehicle_model", "located_by"},
        "organizations": {"name", "subdivision"},
        "polled_accounts": {"channel_account"},
        "seen_signatures": {"channel_account"},
        "telematics_alerts": {"reason"},
        "telematics_days": {"kind"},
        "telematics_events": {"kind"},
        "transfer_assessments": {"data_class", "destination"},
        "users": {"locale"},
        "vehicles": {"make", "model"},
    }
    texts: dict[str, set[str]] = {}
    for table in Base.metadata.sorted_tables:
        clear = {
            column.name
            for column in table.columns
            # Every table's market is the base's, declared there.
            if column.name != "market"
            and _holds_text(column)
            and personal_of(column) is Personal.NO
        }
        if clear:
            texts[table.name] = clear
    assert texts == reviewed


def _holds_text(column: Any) -> bool:
    stored = column.type
    if isinstance(stored, TypeDecorator):
        stored = stored.impl_instance
    # An enumeration is a closed set of values, though SQLAlchemy stores it as a string.
    return isinstance(stored, String | JSON) and not isinstance(stored, Enum)


def test_plans_leave_out_personal_columns_and_hash_keys() -> None:
    pseudonymised = plan_table(Customer, Pseudonyms(SecretStr(KEY)))
    assert [c.name for c in pseudonymised.columns] == [
        "id",
        "market",
        "kind",
        "preferred_locale",
        "merged_into_id",
        "created",
        "updated",
    ]
    customer = uuid.uuid4()
    assert pseudonymised.columns[0].convert(customer) == keyed(customer)
    assert pseudonymised.columns[0].convert(None) is None
    clear = plan_table(Customer, None)
    assert "family_name" in [c.name for c in clear.columns]
    assert clear.columns[0].convert(customer) == str(customer)
