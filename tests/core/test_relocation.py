"""``regiocrm residency report`` and ``migrate``: what sits where, and moving it verified,
audited, resumable and idempotent, refusing what cannot be done without losing rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import OperationalError
from zone_rows import by_id, contents, in_zone, zones_of

from regiocrm.crm.timeline import MessageEntry, append_once
from regiocrm.hookspecs import hookimpl
from regiocrm.models import (
    AuditEvent,
    Customer,
    DataClass,
    Direction,
    Identity,
    Interaction,
    LicenceTier,
    Organization,
    OrganizationKind,
)
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.ids import new_id
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.residency.relocation import Migration, MigrationError, Status, plan, survey
from regiocrm.services import Services
from regiocrm.testing import upgrade_zones

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


class Deployment:
    """A deployment in ``deployment_dir`` whose settings a test rewrites between steps."""

    def __init__(self, folder: Path, hooks: Hooks) -> None:
        self.folder = folder
        self.hooks = hooks
        self.opened: list[ZoneStores] = []

    def configure(self, toml: str) -> ZoneStores:
        (self.folder / "regiocrm.toml").write_text(toml)
        stores = ZoneStores.open(load_settings(self.hooks), self.hooks)
        self.opened.append(stores)
        upgrade_zones(stores, self.hooks)
        return stores

    def close(self) -> None:
        for stores in self.opened:
            stores.dispose()


@pytest.fixture
def deployment(deployment_dir: Path, regiocrm_hooks: Hooks) -> Iterator[Deployment]:
    made = Deployment(deployment_dir, regiocrm_hooks)
    yield made
    made.close()


def seed(stores: ZoneStores, market: str, customers: int, entries: int) -> list[uuid.UUID]:
    """Customers of ``market``, each with a phone number and ``entries`` timeline entries."""
    ids = []
    with stores.session() as session:
        for n in range(customers):
            customer = Customer(market=market, family_name=f"客{n}")
            session.add(customer)
            session.flush()
            ids.append(customer.id)
            session.add(
                Identity(
                    market=market,
                    customer_id=customer.id,
                    kind="email",
                    value=f"{market}{n}@x.example",
                )
            )
            for minute in range(entries):
                session.add(
                    Interaction(
                        market=market,
                        customer_id=customer.id,
                        channel="sms",
                        direction=Direction.INBOUND,
                        touchpoint="test",
                        text=f"{n}/{minute}",
                        occurred_at=T0 + timedelta(minutes=minute),
                    )
                )
    return ids


CRM_IN_JAPAN = '[residency.placement.CN]\ncrm = "jp"\n'
CRM_BACK_HOME = '[residency.restrict.CN]\ncrm = ["cn"]\n'


def test_the_report_counts_rows_per_zone_market_and_class(
    deployment: Deployment, regiocrm_cli: Callable[..., Any]
) -> None:
    stores = deployment.configure(CRM_IN_JAPAN)
    seed(stores, "CN", 2, 3)
    seed(stores, "KR", 1, 1)
    report = regiocrm_cli("residency", "report", "--json")
    assert report.exit_code == 0, report.stdout
    holdings = {
        (zone["zone"], entry["market"], entry["data_class"]): (entry["rows"], entry["status"])
        for zone in json.loads(report.stdout)["zones"]
        for entry in zone["holdings"]
    }
    assert holdings == {
        ("cn", "CN", "identity"): (4, "ok"),
        ("jp", "CN", "crm"): (6, "ok"),
        ("kr", "KR", "identity"): (2, "ok"),
        ("kr", "KR", "crm"): (1, "ok"),
    }


def test_statuses_tell_misplaced_forbidden_and_unplaced_rows_apart(
    deployment: Deployment,
) -> None:
    stores = deployment.configure(CRM_IN_JAPAN)
    seed(stores, "CN", 1, 2)
    seed(stores, "HK", 1, 1)
    with stores.engine("main").begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO customers (id, market, kind, created, updated)"
            " VALUES (?, 'US', 'person', ?, ?)",
            (new_id().hex, T0.isoformat(), T0.isoformat()),
        )
    # HK may live in jp or cn and is now placed in cn; CN crm may no longer be in jp.
    stores = deployment.configure(CRM_BACK_HOME + '[residency.placement.HK]\ncrm = "cn"\n')
    statuses = {
        (h.zone, h.market, h.data_class): h.status for s in survey(stores) for h in s.holdings
    }
    assert statuses == {
        ("main", "US", "identity"): Status.UNPLACED,
        ("cn", "CN", "identity"): Status.OK,
        ("jp", "CN", "crm"): Status.FORBIDDEN,
        ("jp", "HK", "identity"): Status.OK,
        ("jp", "HK", "crm"): Status.MISPLACED,
    }
    moves = plan(survey(stores))
    assert {(m.model.__tablename__, m.market, m.source, m.target) for m in moves} == {
        ("interactions", "CN", "jp", "cn"),
        ("interactions", "HK", "jp", "cn"),
    }
    assert plan(survey(stores), market="HK", data_class="identity") == []


def test_dry_run_moves_nothing(deployment: Deployment, regiocrm_cli) -> None:
    stores = deployment.configure(CRM_IN_JAPAN)
    seed(stores, "CN", 2, 2)
    before = contents(stores)
    deployment.configure(CRM_BACK_HOME)
    result = regiocrm_cli("residency", "migrate", "--dry-run", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["moves"] == [
        {
            "table": "interactions",
            "data_class": "crm",
            "market": "CN",
            "from": "jp",
            "to": "cn",
            "rows": 4,
            "status": "forbidden",
        }
    ]
    assert contents(stores) == before


def test_migrate_moves_verifies_audits_and_announces(
    deployment: Deployment, regiocrm_cli, register_plugin
) -> None:
    moved: list[dict[str, Any]] = []

    class Recorder:
        @hookimpl
        def residency_moved(
            self,
            market: str,
            data_class: str,
            source: str,
            target: str,
            rows: int,
            services: Services,
        ) -> None:
            assert isinstance(services, Services), "the command's application hands them"
            moved.append(
                {
                    "market": market,
                    "data_class": data_class,
                    "source": source,
                    "target": target,
                    "rows": rows,
                }
            )

    register_plugin(Recorder())
    stores = deployment.configure(CRM_IN_JAPAN)
    seed(stores, "CN", 3, 3)
    before = contents(stores)
    deployment.configure(CRM_BACK_HOME)
    result = regiocrm_cli("residency", "migrate", "--batch-size", "4", "--json")
    assert result.exit_code == 0, result.stderr
    [summary] = json.loads(result.stdout)["moved"]
    assert (summary["moved"], summary["conflicts"]) == (9, [])
    after = contents(stores)
    assert by_id(after["interactions"]) == by_id(before["interactions"])
    assert zones_of(after["interactions"]) == {"cn"}
    with stores.session() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "residency.moved")
        ).all()
    assert [int(e.detail["rows"]) for e in sorted(events, key=lambda e: e.detail["first_id"])] == [
        4,
        4,
        1,
    ]
    assert {(e.market, e.subject_type, e.detail["from"], e.detail["to"]) for e in events} == {
        ("CN", "interactions", "jp", "cn")
    }
    assert moved == [
        {
            "market": "CN",
            "data_class": "crm",
            "source": "jp",
            "target": "cn",
            "rows": 9,
        }
    ]
    again = regiocrm_cli("residency", "migrate", "--json")
    assert json.loads(again.stdout) == {"dry_run": False, "moves": []}
    assert contents(stores)["interactions"] == after["interactions"]


def test_conversations_move_with_the_timeline_they_sum_up(
    deployment: Deployment, regiocrm_cli: Callable[..., Any]
) -> None:
    stores = deployment.configure(CRM_IN_JAPAN)
    customers = seed(stores, "CN", 2, 0)
    with stores.session() as session:
        connection = session.zone_connection(session.residency.zone_for("CN", DataClass.CRM))
        for n, customer in enumerate(customers):
            append_once(
                connection,
                MessageEntry(
                    id=new_id(),
                    market="CN",
                    customer_id=customer,
                    channel="wechat",
                    direction=Direction.INBOUND,
                    touchpoint="wechat_cn",
                    text=f"你好 {n}",
                    summary=None,
                    external_id=None,
                    occurred_at=T0,
                    case_id=None,
                ),
            )
    before = contents(stores)
    assert zones_of(before["conversations"]) == {"jp"}
    assert len(before["conversations"]) == 2
    deployment.configure(CRM_BACK_HOME)
    result = regiocrm_cli("residency", "migrate", "--json")
    assert result.exit_code == 0, result.stderr
    assert {summary["table"] for summary in json.loads(result.stdout)["moved"]} >= {"conversations"}
    after = contents(stores)
    assert zones_of(after["conversations"]) == {"cn"}
    assert by_id(after["conversations"]) == by_id(before["conversations"])


def test_hook_residency_moved(
    deployment: Deployment, regiocrm_hooks: Hooks, register_plugin
) -> None:
    calls: list[tuple[str, str, str, str, int]] = []

    class Recorder:
        @hookimpl
        def residency_moved(
            self, market: str, data_class: str, source: str, target: str, rows: int
        ) -> None:
            calls.append((market, data_class, source, target, rows))

    register_plugin(Recorder())
    stores = deployment.configure("[residency.placement.KR]\n")
    seed(stores, "HK", 2, 1)
    stores = deployment.configure('[residency.placement.HK]\nidentity = "cn"\ncrm = "cn"\n')
    Migration(stores, regiocrm_hooks).run(plan(survey(stores)))
    assert sorted(calls) == [("HK", "crm", "jp", "cn", 2), ("HK", "identity", "jp", "cn", 4)]


def test_a_crash_between_copy_and_delete_leaves_nothing_twice_after_a_rerun(
    deployment: Deployment, regiocrm_hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = deployment.configure(CRM_IN_JAPAN)
    seed(stores, "CN", 2, 5)
    before = contents(stores)
    stores = deployment.configure(CRM_BACK_HOME)

    def crash(self: Migration, zone: str, table: Any, ids: list[Any]) -> None:
        raise KeyboardInterrupt("killed after the copy, before the delete")

    monkeypatch.setattr(Migration, "_delete", crash)
    with pytest.raises(KeyboardInterrupt):
        Migration(stores, regiocrm_hooks, batch_size=3).run(plan(survey(stores)))
    halfway = contents(stores)["interactions"]
    assert len(halfway) == 13, "the first batch is in both zones"
    monkeypatch.undo()
    with stores.session() as session:
        assert len(session.scalars(select(Interaction)).all()) == 10, "each read once"
    Migration(stores, regiocrm_hooks, batch_size=3).run(plan(survey(stores)))
    after = contents(stores)
    assert by_id(after["interactions"]) == by_id(before["interactions"])
    assert zones_of(after["interactions"]) == {"cn"}
    with stores.session() as session:
        moved = session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "residency.moved")
        ).all()
    assert sum(int(detail["rows"]) for detail in moved) == 10, "the first batch audited once"


def test_a_copy_that_does_not_read_back_deletes_nothing(
    deployment: Deployment, regiocrm_hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = deployment.configure(CRM_IN_JAPAN)
    seed(stores, "CN", 1, 4)
    before = contents(stores)
    stores = deployment.configure(CRM_BACK_HOME)
    copy = Migration._copy

    def garbled(self: Migration, move: Any, rows: list[dict[str, Any]], moved: Any) -> Any:
        copy(self, move, [{**row, "text": "garbled"} for row in rows], moved)
        return rows

    monkeypatch.setattr(Migration, "_copy", garbled)
    with pytest.raises(MigrationError, match="do not read back from zone 'cn' as they are in 'jp'"):
        Migration(stores, regiocrm_hooks).run(plan(survey(stores)))
    after = contents(stores)
    assert in_zone(after["interactions"], "jp") == before["interactions"]


def test_a_zone_failing_half_way_keeps_what_it_had_not_taken_and_a_rerun_finishes(
    deployment: Deployment, regiocrm_hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = deployment.configure(CRM_IN_JAPAN)
    seed(stores, "CN", 2, 4)
    before = contents(stores)
    stores = deployment.configure(CRM_BACK_HOME)
    copy = Migration._copy
    batches: list[int] = []

    def flaky(self: Migration, move: Any, rows: list[dict[str, Any]], moved: Any) -> Any:
        batches.append(len(rows))
        if len(batches) == 2:
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return copy(self, move, rows, moved)

    monkeypatch.setattr(Migration, "_copy", flaky)
    with pytest.raises(OperationalError):
        Migration(stores, regiocrm_hooks, batch_size=3).run(plan(survey(stores)))
    halfway = contents(stores)["interactions"]
    assert (len(zones_of(halfway)), len(halfway)) == (2, 8)
    assert len(in_zone(halfway, "jp")) == 5
    monkeypatch.undo()
    Migration(stores, regiocrm_hooks, batch_size=3).run(plan(survey(stores)))
    assert by_id(contents(stores)["interactions"]) == by_id(before["interactions"])


def test_an_unreachable_zone_is_a_clear_error_and_nothing_is_deleted(
    deployment: Deployment, regiocrm_cli
) -> None:
    zones = '[zones]\ncn = "sqlite:///cn.db"\njp = "sqlite:///jp.db"\n'
    stores = deployment.configure('home_zone = "cn"\n' + zones + CRM_IN_JAPAN)
    seed(stores, "CN", 1, 3)
    before = contents(stores)
    unreachable = zones.replace(
        'cn = "sqlite:///cn.db"', 'cn = "postgresql://nobody@127.0.0.1:1/none"'
    )
    (deployment.folder / "regiocrm.toml").write_text(
        'home_zone = "jp"\n' + unreachable + CRM_BACK_HOME
    )
    result = regiocrm_cli("residency", "migrate")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: zone 'cn' is unreachable: ")
    assert result.stderr.rstrip().endswith("nothing was moved")
    report = regiocrm_cli("residency", "report", "--json")
    assert report.exit_code == 1
    assert json.loads(report.stdout)["unreachable_zones"] == ["cn"]
    (deployment.folder / "regiocrm.toml").write_text('home_zone = "cn"\n' + zones + CRM_IN_JAPAN)
    assert contents(stores) == before


def test_a_row_the_target_holds_under_another_id_stays_and_is_named(
    deployment: Deployment, regiocrm_cli
) -> None:
    stores = deployment.configure('[residency.placement.CN]\nidentity = "jp"\n')
    [customer] = seed(stores, "CN", 1, 0)
    clash = new_id()
    with stores.engine("cn").begin() as connection:
        connection.execute(
            insert(Identity.__table__),
            {
                "id": clash,
                "market": "CN",
                "customer_id": new_id(),
                "kind": "email",
                "value": "CN0@x.example",
                "verified": False,
                "created": T0,
                "updated": T0,
            },
        )
    deployment.configure('[residency.restrict.CN]\nidentity = ["cn"]\n')
    result = regiocrm_cli("residency", "migrate")
    assert result.exit_code == 1
    assert "stays in jp: zone cn holds another row with the same unique key" in result.stderr
    after = contents(stores)
    assert {zone for zone, _ in after["identities"]} == {"cn", "jp"}
    assert {zone for zone, row in after["customers"] if row == customer} == {"cn"}


def test_the_directory_follows_the_home_zone_parents_first(
    deployment: Deployment, regiocrm_cli
) -> None:
    zones = '[zones]\nmain = "sqlite:///main.db"\ncn = "sqlite:///cn.db"\n'
    stores = deployment.configure('home_zone = "main"\n' + zones)
    with stores.session() as session:
        oem = Organization(
            name="HQ", kind=OrganizationKind.OEM, licence_tier=LicenceTier.FULL, market="CN"
        )
        session.add(oem)
        session.flush()
        session.add(
            Organization(
                name="Pudong Motors",
                kind=OrganizationKind.DEALER,
                licence_tier=LicenceTier.COMMUNITY,
                market="CN",
                parent_id=oem.id,
            )
        )
    assert (
        regiocrm_cli("users", "add", "li", "--role", "call_centre_agent", "--org", "HQ").exit_code
        == 0
    )
    before = contents(stores)
    deployment.configure('home_zone = "cn"\n' + zones)
    report = json.loads(regiocrm_cli("residency", "report", "--json").stdout)
    assert {
        e["data_class"] for z in report["zones"] for e in z["holdings"] if e["status"] != "ok"
    } == {"directory"}
    result = regiocrm_cli("residency", "migrate", "--batch-size", "1")
    assert result.exit_code == 0, result.stderr
    after = contents(stores)
    for table in ("organizations", "users", "api_tokens"):
        assert by_id(after[table]) == by_id(before[table])
        assert zones_of(after[table]) == {"cn"}
    token = regiocrm_cli("users", "list", "--json")
    assert [user["tokens"] for user in json.loads(token.stdout)] == [1]
    assert regiocrm_cli("residency", "report").exit_code == 0


def test_bad_filters_are_refused(deployment: Deployment, regiocrm_cli) -> None:
    deployment.configure("")
    result = regiocrm_cli("residency", "migrate", "--class", "gossip")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --class: 'gossip' is not one of identity, crm")
    assert regiocrm_cli("residency", "migrate", "--batch-size", "0").exit_code == 2
