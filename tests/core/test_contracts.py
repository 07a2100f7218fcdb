"""Contracts: financial data kept where residency places it, every read audited, bad
input refused with nothing stored, and those ending soon found by the database."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from desk import Desk
from sqlalchemy import select
from zone_rows import contents, zones_of

from regiocrm.crm.contracts import expiring
from regiocrm.models import AuditEvent, Contract, ContractStatus, Vehicle


def vehicle(desk: Desk, vin: str = "LSVAU2180N2183456") -> str:
    with desk.stores.session() as session:
        car = Vehicle(market="CN", vin=vin, make="Brand", model="Tourer")
        session.add(car)
        session.commit()
        return str(car.id)


def contract(desk: Desk, **values: Any) -> Any:
    body = {
        "customer_id": desk.customer(),
        "market": "CN",
        "kind": "lease",
        "starts_on": "2026-01-01",
        "ends_on": "2028-12-31",
        **values,
    }
    return desk.post("/api/contracts", body)


def audited(desk: Desk, subject: str) -> list[str]:
    with desk.stores.session() as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.subject_id == uuid.UUID(subject))
                .order_by(AuditEvent.occurred_at, AuditEvent.id)
            )
        )


def test_a_lease_is_stored_in_china_in_the_markets_currency(desk: Desk) -> None:
    car = vehicle(desk)
    answer = contract(desk, vehicle_id=car, amount="268000.50", reference="L-2026-0042")
    assert answer.status_code == 201, answer.text
    stored = answer.json()
    assert (stored["vehicle_id"], stored["amount"], stored["currency"]) == (
        car,
        "268000.50",
        "CNY",
    )
    assert stored["status"] == "draft"
    assert zones_of(contents(desk.stores)["contracts"]) == {"cn"}
    again = desk.get(f"/api/contracts/{stored['id']}")
    assert again.status_code == 200
    assert again.json() == stored


def test_every_read_of_a_contract_is_audited_with_its_reader(desk: Desk) -> None:
    created = contract(desk).json()
    desk.get(f"/api/contracts/{created['id']}")
    desk.get("/api/contracts", customer_id=created["customer_id"])
    assert audited(desk, created["id"]) == ["contract.created", "contract.read", "contract.read"]
    with desk.stores.session() as session:
        actors = set(
            session.scalars(
                select(AuditEvent.actor_id).where(AuditEvent.subject_id == uuid.UUID(created["id"]))
            )
        )
    assert len(actors) == 1
    assert None not in actors


@pytest.mark.parametrize(
    ("values", "code", "reason"),
    [
        ({"starts_on": "2027-06-01", "ends_on": "2027-05-31"}, 400, "ends_on 2027-05-31 is before"),
        ({"customer_id": str(uuid.uuid4())}, 422, "no customer"),
        ({"vehicle_id": str(uuid.uuid4())}, 422, "no vehicle"),
        ({"market": "JP", "amount": "1500000.5"}, 422, "1500000.5 JPY is finer"),
        ({"market": "ZZ"}, 422, "ZZ"),
        ({"kind": "rental"}, 422, ""),
    ],
)
def test_a_bad_contract_is_refused_and_nothing_is_stored(
    desk: Desk, values: dict[str, Any], code: int, reason: str
) -> None:
    answer = contract(desk, **values)
    assert answer.status_code == code, answer.text
    assert reason in str(answer.json()["detail"])
    assert desk.count(Contract) == 0


def test_a_contract_may_be_open_ended_and_the_amount_of_yen_is_whole(desk: Desk) -> None:
    japanese = desk.customer(market="JP", family_name="佐藤")
    answer = contract(
        desk, customer_id=japanese, market="JP", amount="3980000", ends_on=None, kind="service"
    )
    assert answer.status_code == 201, answer.text
    assert (answer.json()["currency"], answer.json()["ends_on"]) == ("JPY", None)


def test_unknown_contract_is_not_found(desk: Desk) -> None:
    assert desk.get(f"/api/contracts/{uuid.uuid4()}").status_code == 404


def test_contracts_ending_soon_are_those_active_and_within_the_window(desk: Desk) -> None:
    today = date.today()
    ends = {
        "in a month, active": (today + timedelta(days=30), "active"),
        "in a month, cancelled": (today + timedelta(days=30), "cancelled"),
        "in a year, active": (today + timedelta(days=365), "active"),
        "last week, active": (today - timedelta(days=7), "active"),
        "today, active": (today, "active"),
    }
    ids = {}
    for name, (ends_on, state) in ends.items():
        answer = contract(
            desk, starts_on=str(today - timedelta(days=800)), ends_on=str(ends_on), status=state
        )
        ids[answer.json()["id"]] = name
    listed = desk.get("/api/contracts", ending_within_days=60).json()["items"]
    assert [ids[item["id"]] for item in listed] == ["today, active", "in a month, active"]
    with desk.stores.session() as session:
        in_sql = session.scalars(select(Contract.id).where(*expiring(60, today))).all()
    assert {ids[str(found)] for found in in_sql} == {"today, active", "in a month, active"}


def test_contracts_are_listed_by_customer_and_status(desk: Desk) -> None:
    first = contract(desk, status="active").json()
    contract(desk, status="active")
    contract(desk, customer_id=first["customer_id"], status="ended")
    mine = desk.get("/api/contracts", customer_id=first["customer_id"]).json()["items"]
    assert {item["status"] for item in mine} == {"active", "ended"}
    active = desk.get("/api/contracts", status="active").json()["items"]
    assert [item["status"] for item in active] == [ContractStatus.ACTIVE.value] * 2
