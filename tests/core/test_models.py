"""The domain model: data classes, ids, append-only tables, timestamps, constraints."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.models import (
    AppendOnlyError,
    AuditEvent,
    Base,
    Consent,
    ConsentAction,
    Customer,
    DataClass,
    Direction,
    Identity,
    Interaction,
    LicenceTier,
    Model,
    Organization,
    OrganizationKind,
    User,
    UserRole,
)
from regiocrm.platform.stores import ZoneStores

MAPPERS = list(Base.registry.mappers)


def data_class_of_table(table_name: str) -> DataClass:
    [mapper] = [m for m in MAPPERS if m.local_table.name == table_name]
    return mapper.class_.__data_class__


def test_every_table_declares_a_data_class() -> None:
    assert len(MAPPERS) >= 17
    for mapper in MAPPERS:
        assert isinstance(mapper.class_.__dict__.get("__data_class__"), DataClass), mapper.class_


def test_each_data_class_holds_what_the_seed_needs() -> None:
    by_class = {m.class_.__name__: m.class_.__data_class__ for m in MAPPERS}
    assert by_class["Customer"] is DataClass.IDENTITY
    assert by_class["Identity"] is DataClass.IDENTITY
    assert by_class["Contract"] is DataClass.FINANCIAL
    assert by_class["TelematicsEvent"] is DataClass.TELEMATICS
    assert by_class["AuditEvent"] is DataClass.AUDIT
    assert by_class["Interaction"] is DataClass.CRM


def test_no_foreign_key_crosses_data_classes() -> None:
    for table in Base.metadata.tables.values():
        for fk in table.foreign_keys:
            assert data_class_of_table(table.name) == data_class_of_table(fk.column.table.name), (
                f"{table.name}.{fk.parent.name} -> {fk.column.table.name}"
            )


def test_relationships_refuse_lazy_loads() -> None:
    for mapper in MAPPERS:
        for relationship in mapper.relationships:
            assert relationship.lazy == "raise", f"{mapper.class_.__name__}.{relationship.key}"


def test_a_model_without_data_class_is_refused() -> None:
    tables = set(Base.metadata.tables)
    with pytest.raises(TypeError, match="must declare its __data_class__"):

        class Orphan(Model):  # pragma: no cover - the class statement itself fails
            name: Mapped[str] = mapped_column()

    assert set(Base.metadata.tables) == tables


def test_ids_are_time_ordered_uuid7_made_by_the_application(migrated: ZoneStores) -> None:
    with migrated.session() as session:
        orgs = [
            Organization(
                name=f"org {n}",
                kind=OrganizationKind.DEALER,
                licence_tier=LicenceTier.COMMUNITY,
                market="JP",
            )
            for n in range(20)
        ]
        session.add_all(orgs)
        session.flush()
        ids = [org.id for org in orgs]
    assert all(isinstance(i, uuid.UUID) and i.version == 7 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == 20


def new_customer(session) -> Customer:
    customer = Customer(market="CN", family_name="王", given_name="芳")
    session.add(customer)
    session.flush()
    return customer


def test_timestamps_round_trip_as_aware_utc(migrated: ZoneStores) -> None:
    tokyo = timezone(timedelta(hours=9))
    at = datetime(2026, 4, 1, 9, 30, tzinfo=tokyo)
    with migrated.session() as session:
        customer = new_customer(session)
        interaction = Interaction(
            market="JP",
            customer_id=customer.id,
            channel="line",
            direction=Direction.INBOUND,
            touchpoint="line:tokyo",
            text="こんにちは",
            occurred_at=at,
        )
        session.add(interaction)
    with migrated.session() as session:
        stored = session.get_one(Interaction, interaction.id)
        assert stored.occurred_at == at
        assert stored.occurred_at.tzinfo is not None
        assert stored.occurred_at.utcoffset() == timedelta(0)
        assert stored.created.tzinfo is UTC


def test_naive_datetimes_are_refused_and_nothing_is_stored(migrated: ZoneStores) -> None:
    def record_naive_interaction() -> None:
        with migrated.session() as session:
            customer = new_customer(session)
            session.add(
                Interaction(
                    market="CN",
                    customer_id=customer.id,
                    channel="wechat",
                    direction=Direction.INBOUND,
                    touchpoint="wechat:oa",
                    occurred_at=datetime(2026, 1, 1, 12, 0),
                )
            )

    with pytest.raises(StatementError, match="naive datetime"):
        record_naive_interaction()
    with migrated.session() as session:
        assert session.scalars(select(Interaction)).all() == []
        assert session.scalars(select(Customer)).all() == []


def test_identity_is_unique_per_kind_and_value(migrated: ZoneStores) -> None:
    with migrated.session() as session:
        first, second = new_customer(session), new_customer(session)
        session.add(
            Identity(market="CN", customer_id=first.id, kind="phone", value="+8613800138000")
        )
        session.add(
            Identity(market="CN", customer_id=second.id, kind="email", value="+8613800138000")
        )
    with pytest.raises(IntegrityError), migrated.session() as session:
        session.add(
            Identity(market="CN", customer_id=second.id, kind="phone", value="+8613800138000")
        )
    with migrated.session() as session:
        owners = session.scalars(select(Identity.customer_id).where(Identity.kind == "phone")).all()
        assert owners == [first.id]


@pytest.mark.parametrize("change", ["update", "delete"])
def test_append_only_rows_refuse_changes(migrated: ZoneStores, change: str) -> None:
    with migrated.session() as session:
        customer = new_customer(session)
        consent = Consent(
            market="CN",
            customer_id=customer.id,
            purpose="marketing",
            channel="wechat",
            action=ConsentAction.GRANT,
        )
        audit = AuditEvent(
            market="CN", action="customer.read", subject_type="customer", subject_id=customer.id
        )
        session.add_all([consent, audit])

    def change_row(row: Consent | AuditEvent) -> None:
        with migrated.session() as session:
            stored = session.get_one(type(row), row.id)
            if change == "update":
                stored.market = "JP"
            else:
                session.delete(stored)

    for row in (consent, audit):
        with pytest.raises(AppendOnlyError, match="append-only"):
            change_row(row)
    with migrated.session() as session:
        assert session.get_one(Consent, consent.id).action is ConsentAction.GRANT
        assert session.get_one(AuditEvent, audit.id).market == "CN"


def test_withdrawal_is_a_new_consent_entry(migrated: ZoneStores) -> None:
    with migrated.session() as session:
        customer = new_customer(session)
        for action in (ConsentAction.GRANT, ConsentAction.WITHDRAW):
            session.add(
                Consent(
                    market="CN",
                    customer_id=customer.id,
                    purpose="marketing",
                    channel="*",
                    action=action,
                )
            )
    with migrated.session() as session:
        actions = session.scalars(
            select(Consent.action).order_by(Consent.occurred_at, Consent.id)
        ).all()
    assert actions == [ConsentAction.GRANT, ConsentAction.WITHDRAW]


def test_enums_are_stored_as_their_values(migrated: ZoneStores) -> None:
    with migrated.session() as session:
        org = Organization(
            name="Dealer",
            kind=OrganizationKind.CALL_CENTRE,
            licence_tier=LicenceTier.FULL,
            market="AU",
        )
        session.add(org)
        session.flush()
        session.add(
            User(name="kim", role=UserRole.COMPETENCE_CENTRE, organization_id=org.id, market="AU")
        )
    with migrated.engine("main").connect() as connection:
        raw = connection.exec_driver_sql("SELECT kind FROM organizations").scalar_one()
        role = connection.exec_driver_sql("SELECT role FROM users").scalar_one()
    assert (raw, role) == ("call_centre", "competence_centre")


def test_tables_follow_the_naming_convention() -> None:
    for table in Base.metadata.tables.values():
        assert table.primary_key.name == f"pk_{table.name}"
        for index in table.indexes:
            assert index.name.startswith(f"ix_{table.name}__"), index.name
            assert len(index.name) <= 63
    assert inspect(Identity).local_table.name == "identities"
