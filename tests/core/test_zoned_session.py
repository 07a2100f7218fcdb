"""The zoned session and the write guard: rows go where residency places them, queries
read every zone and merge in order, and no write can leave a row where its rules forbid."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects import sqlite

from regiocrm.models import (
    AuditEvent,
    Base,
    Consent,
    ConsentAction,
    Customer,
    CustomerExport,
    Direction,
    Identity,
    Interaction,
    LicenceTier,
    Organization,
    OrganizationKind,
)
from regiocrm.platform.ids import derived_id, new_id, new_ids
from regiocrm.platform.stores import CrossZoneQuery, ZoneStores
from regiocrm.residency.rules import ResidencyError

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def count_in(stores: ZoneStores, zone: str, table: str) -> int:
    with stores.engine(zone).connect() as connection:
        return connection.execute(
            select(func.count()).select_from(Base.metadata.tables[table])
        ).scalar_one()


def entry(customer: Customer, minutes: int, text_: str) -> Interaction:
    return Interaction(
        market=customer.market,
        customer_id=customer.id,
        channel="sms",
        direction=Direction.INBOUND,
        touchpoint="test",
        text=text_,
        occurred_at=T0 + timedelta(minutes=minutes),
    )


@pytest.fixture
def two_markets(migrated: ZoneStores) -> tuple[Customer, Customer]:
    """A Chinese customer (zone cn) and a Japanese one (zone jp), with interleaved timelines."""
    with migrated.session() as session:
        wang, sato = (
            Customer(market="CN", family_name="王"),
            Customer(market="JP", family_name="佐藤"),
        )
        session.add_all([wang, sato])
        session.flush()
        for minute in range(6):
            session.add(entry(wang if minute % 2 else sato, minute, f"m{minute}"))
    return wang, sato


def test_rows_go_to_the_zone_their_market_and_class_place_them(
    migrated: ZoneStores, two_markets: tuple[Customer, Customer]
) -> None:
    assert count_in(migrated, "cn", "customers") == 1
    assert count_in(migrated, "jp", "customers") == 1
    assert count_in(migrated, "cn", "interactions") == 3
    assert count_in(migrated, "jp", "interactions") == 3
    assert sum(count_in(migrated, z, "customers") for z in ("main", "au", "kr")) == 0
    with migrated.session() as session:
        session.add(
            Organization(
                name="Tokyo Hub",
                kind=OrganizationKind.WHOLESALER,
                licence_tier=LicenceTier.FULL,
                market="JP",
            )
        )
    assert count_in(migrated, "main", "organizations") == 1, "the directory lives at home"
    assert count_in(migrated, "jp", "organizations") == 0


def test_a_query_reads_every_zone_in_order_and_within_its_limit(
    migrated: ZoneStores, two_markets: tuple[Customer, Customer]
) -> None:
    with migrated.session() as session:
        newest = session.scalars(
            select(Interaction).order_by(Interaction.occurred_at.desc()).limit(4)
        ).all()
        assert [row.text for row in newest] == ["m5", "m4", "m3", "m2"]
        texts = session.scalars(
            select(Interaction.text).order_by(Interaction.occurred_at, Interaction.id)
        ).all()
        assert texts == [f"m{minute}" for minute in range(6)]
        markets = session.execute(
            select(Interaction.market, Interaction.text).order_by(
                Interaction.market.desc(), Interaction.occurred_at
            )
        ).all()
        assert [tuple(row) for row in markets] == [
            ("JP", "m0"),
            ("JP", "m2"),
            ("JP", "m4"),
            ("CN", "m1"),
            ("CN", "m3"),
            ("CN", "m5"),
        ]
        assert session.scalar(select(func.count()).select_from(Interaction)) == 6
        first, last = session.execute(
            select(func.min(Interaction.occurred_at), func.max(Interaction.occurred_at))
        ).one()
        assert (first, last) == (T0, T0 + timedelta(minutes=5))


def test_queries_the_zones_cannot_answer_apart_are_refused(
    migrated: ZoneStores, two_markets: tuple[Customer, Customer]
) -> None:
    with migrated.session() as session:
        with pytest.raises(CrossZoneQuery, match="GROUP BY"):
            session.execute(select(Interaction.market, func.count()).group_by(Interaction.market))
        with pytest.raises(CrossZoneQuery, match="cannot be merged across zones"):
            session.execute(select(func.count(Interaction.market.distinct())))
        with pytest.raises(CrossZoneQuery, match="several tables"):
            session.execute(
                select(Customer).join(Interaction, Interaction.customer_id == Customer.id)
            )
        with pytest.raises(CrossZoneQuery, match="directory"):
            session.execute(
                select(Interaction).join(
                    Organization, Organization.id == Interaction.organization_id
                )
            )
        per_zone = {
            zone: session.execute(
                select(Interaction.market, func.count())
                .group_by(Interaction.market)
                .execution_options(zones=[zone])
            ).all()
            for zone in ("cn", "jp")
        }
    assert per_zone == {"cn": [("CN", 3)], "jp": [("JP", 3)]}


def test_an_orm_bulk_insert_is_refused_for_rows_it_cannot_place(migrated: ZoneStores) -> None:
    rows = [
        {"id": new_id(), "market": market, "family_name": name}
        for market, name in (("CN", "李"), ("KR", "김"))
    ]
    with (
        pytest.raises(ResidencyError, match="bulk INSERT cannot place its rows"),
        migrated.session() as session,
    ):
        session.execute(insert(Customer), rows)
    with migrated.session() as session:
        session.add_all(Customer(**row) for row in rows)
    assert [count_in(migrated, zone, "customers") for zone in ("cn", "kr", "jp")] == [1, 1, 0]


def test_a_core_statement_on_placed_rows_must_name_its_zone(migrated: ZoneStores) -> None:
    with migrated.session() as session, pytest.raises(ResidencyError, match="must name its zone"):
        session.connection(bind_arguments={"mapper": Customer.__mapper__})


def test_the_guard_refuses_a_row_its_zone_may_not_hold_and_stores_nothing(
    migrated: ZoneStores,
) -> None:
    row = {"id": new_id(), "market": "CN", "family_name": "王"}
    with (
        pytest.raises(
            ResidencyError, match=r"CN identity data \(customers\) may not be written to zone 'kr'"
        ),
        migrated.session() as session,
    ):
        session.zone_connection("kr").execute(insert(Customer), row)
    with (
        pytest.raises(ResidencyError, match="may not be written to zone 'au'"),
        migrated.session() as session,
    ):
        session.zone_connection("au").execute(insert(Customer).values(**row))
    with (
        pytest.raises(ResidencyError, match="may not be written to zone 'kr'"),
        migrated.engine("kr").begin() as connection,
    ):
        connection.execute(
            sqlite.insert(Customer.__table__).values([row, {**row, "id": new_id(), "market": "JP"}])
        )
    with (
        pytest.raises(ResidencyError, match="no installed pack serves it"),
        migrated.session() as session,
    ):
        session.add(Customer(market="US", family_name="Doe"))
    with (
        pytest.raises(ResidencyError, match="organizations rows live in the home zone 'main'"),
        migrated.engine("cn").begin() as connection,
    ):
        connection.execute(
            insert(Organization.__table__),
            {
                "id": new_id(),
                "market": "CN",
                "name": "X",
                "kind": "dealer",
                "licence_tier": "full",
            },
        )
    with (
        pytest.raises(ResidencyError, match="INSERT … SELECT"),
        migrated.engine("cn").begin() as connection,
    ):
        connection.execute(
            insert(Customer.__table__).from_select(
                ["id", "market"], select(Customer.id, Customer.market)
            )
        )
    assert sum(count_in(migrated, zone, "customers") for zone in migrated.names) == 0
    assert count_in(migrated, "cn", "organizations") == 0


def test_a_row_cannot_change_to_a_market_its_zone_may_not_hold(
    migrated: ZoneStores, two_markets: tuple[Customer, Customer]
) -> None:
    wang, _sato = two_markets
    with pytest.raises(ResidencyError, match="KR identity data"), migrated.session() as session:
        session.get_one(Customer, wang.id).market = "KR"
    with pytest.raises(ResidencyError, match="KR crm data"), migrated.session() as session:
        session.execute(
            update(Interaction).where(Interaction.customer_id == wang.id).values(market="KR")
        )
    with migrated.session() as session:
        session.get_one(Customer, wang.id).market = "HK"
    with migrated.session() as session:
        assert session.get_one(Customer, wang.id).market == "HK", "HK data may live in cn too"
        assert {row.market for row in session.scalars(select(Interaction))} == {"CN", "JP"}


def test_rows_a_rule_change_left_in_a_forbidden_zone_are_not_written_until_moved(
    migrated: ZoneStores, two_markets: tuple[Customer, Customer]
) -> None:
    """A Japanese customer sitting in zone cn (put there behind the guard's back) may be
    read and deleted, never changed in place."""
    stray = new_id()
    with migrated.engine("cn").begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO customers (id, market, kind, family_name, created, updated)"
            " VALUES (?, 'JP', 'person', '鈴木', ?, ?)",
            (stray.hex, T0.isoformat(), T0.isoformat()),
        )
    with (
        pytest.raises(ResidencyError, match="run `regiocrm residency migrate` first"),
        migrated.session() as session,
    ):
        session.execute(update(Customer).values(given_name="touched"))
    with (
        pytest.raises(ResidencyError, match="run `regiocrm residency migrate` first"),
        migrated.session() as session,
    ):
        session.get_one(Customer, stray).given_name = "touched"
    with migrated.session() as session:
        assert session.scalars(select(Customer.given_name)).all() == [None] * 3
        assert session.get_one(Customer, stray).family_name == "鈴木"
        session.execute(delete(Customer).where(Customer.id == stray))
    assert count_in(migrated, "cn", "customers") == 1


def test_a_row_found_in_two_zones_is_read_once_from_where_it_belongs(
    migrated: ZoneStores, two_markets: tuple[Customer, Customer]
) -> None:
    """What a move cut short between copying and deleting leaves behind."""
    wang, _sato = two_markets
    with migrated.engine("cn").connect() as connection:
        row = dict(connection.execute(select(Customer.__table__)).one()._mapping)
    with migrated.engine("jp").begin() as connection:
        connection.execute(insert(Customer.__table__), {**row, "family_name": "copy"})
    with migrated.session() as session:
        assert [c.id for c in session.scalars(select(Customer).where(Customer.id == wang.id))] == [
            wang.id
        ]
        found = session.get_one(Customer, wang.id)
        assert found.family_name == "王", "the copy in the zone CN data is placed in"


def test_export_copies_live_in_their_destination(migrated: ZoneStores) -> None:
    with migrated.session() as session:
        session.add(CustomerExport(market="CN", customer_id=uuid.uuid4(), destination="jp"))
    assert count_in(migrated, "jp", "customer_exports") == 1
    with (
        pytest.raises(ResidencyError, match="belongs in zone 'jp', not 'kr'"),
        migrated.engine("kr").begin() as connection,
    ):
        connection.execute(
            insert(CustomerExport.__table__),
            {
                "id": new_id(),
                "market": "CN",
                "customer_id": new_id(),
                "destination": "jp",
                "basis": {},
                "document": {},
            },
        )


def test_consent_and_audit_follow_their_market(migrated: ZoneStores) -> None:
    with migrated.session() as session:
        customer = Customer(market="KR")
        session.add(customer)
        session.flush()
        session.add(
            Consent(
                market="KR",
                customer_id=customer.id,
                purpose="marketing",
                channel="*",
                action=ConsentAction.GRANT,
            )
        )
        session.add(AuditEvent(market="KR", action="customer.read", subject_type="customer"))
        session.add(
            Identity(market="KR", customer_id=customer.id, kind="phone", value="+821012345678")
        )
    assert [count_in(migrated, "kr", t) for t in ("consents", "audit_events", "identities")] == [
        1,
        1,
        1,
    ]


def test_a_derived_id_is_the_same_every_time_and_still_time_ordered() -> None:
    source = new_id()
    derived = derived_id(source, "timeline")
    assert derived == derived_id(source, "timeline")
    assert derived not in (source, derived_id(source, "other"))
    assert (derived.version, derived.variant) == (7, uuid.RFC_4122)
    assert derived.int >> 80 == source.int >> 80, "the same millisecond"


def test_rows_of_a_market_no_pack_serves_are_still_read(migrated: ZoneStores) -> None:
    """What a deployment wrote before a pack was removed stays readable (and reported)."""
    with migrated.engine("main").begin() as connection:
        for _ in range(2):
            connection.exec_driver_sql(
                "INSERT INTO customers (id, market, kind, created, updated)"
                " VALUES (?, 'US', 'person', ?, ?)",
                (new_id().hex, T0.isoformat(), T0.isoformat()),
            )
    with migrated.session() as session:
        assert [c.market for c in session.scalars(select(Customer))] == ["US", "US"]


def _customer_row(market: str, name: str) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "id": new_id(),
        "market": market,
        "kind": "person",
        "family_name": name,
        "created": now,
        "updated": now,
    }


def test_bulk_inserted_rows_go_to_their_zones_with_their_defaults(migrated: ZoneStores) -> None:
    rows = [_customer_row("CN", "王"), _customer_row("JP", "佐藤"), _customer_row("CN", "李")]
    with migrated.session() as session:
        session.insert_rows(Customer, rows)
    assert (count_in(migrated, "cn", "customers"), count_in(migrated, "jp", "customers")) == (2, 1)
    with migrated.session() as session:
        wang = session.get_one(Customer, rows[0]["id"])
        assert (wang.market, wang.family_name, wang.created) == ("CN", "王", rows[0]["created"])


def test_bulk_rows_residency_cannot_place_are_refused_before_any_is_written(
    migrated: ZoneStores,
) -> None:
    rows = [_customer_row("CN", "王"), _customer_row("US", "Doe")]
    with (
        pytest.raises(ResidencyError, match="no installed pack serves it"),
        migrated.session() as session,
    ):
        session.insert_rows(Customer, rows)
    with (
        pytest.raises(ResidencyError, match="needs its market"),
        migrated.session() as session,
    ):
        session.insert_rows(Customer, [_customer_row("", "王")])
    assert sum(count_in(migrated, zone, "customers") for zone in migrated.names) == 0


def test_ids_made_in_bulk_are_unique_ordered_and_after_every_earlier_id() -> None:
    before = new_id()
    ids = new_ids(5000)
    after = new_id()
    assert len(set(ids)) == 5000
    assert ids == sorted(ids)
    assert before < ids[0]
    assert ids[-1] < after
    assert {(i.version, i.variant) for i in ids} == {(7, uuid.RFC_4122)}
    assert new_ids(0) == []
