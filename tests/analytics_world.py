"""A small deployment for the analytics export's tests: dealers, staff and customers of three
markets (so three zones and the home zone), each with what a person can be found by (names,
phone numbers, e-mails, addresses, words they wrote, a car's VIN), written over four days."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import func, select

from regiocrm.crm.accounts import create_organization, create_user
from regiocrm.interfaces.maps import Point
from regiocrm.models import (
    Case,
    Consent,
    ConsentAction,
    Contract,
    ContractKind,
    Customer,
    Direction,
    Identity,
    Interaction,
    Lead,
    OrganizationKind,
    Ownership,
    UserRole,
    Vehicle,
)
from regiocrm.platform.stores import ZoneStores, table_of

KEY = "k" * 8 + "analytics-test-key-0123456789abcdef"
OTHER_KEY = "o" * 8 + "another-analytics-key-0123456789abc"
FIRST_DAY = date(2026, 11, 28)
DAYS = 4
# (market, family, given, phone, e-mail, address)
PEOPLE = [
    ("CN", "王", "小明", "+8613800138001", "xiaoming.wang@example.cn", "上海市徐汇区漕溪北路88号"),
    ("CN", "李", "春梅", "+8613900139002", "chunmei.li@example.cn", "上海市浦东新区张杨路500号"),
    ("CN", "张", "伟强", "+8613700137003", "weiqiang.zhang@example.cn", "北京市朝阳区建国路1号"),
    ("JP", "佐藤", "花子", "+819012345678", "hanako.sato@example.jp", "東京都千代田区丸の内1-1"),
    ("JP", "鈴木", "一郎", "+818098765432", "ichiro.suzuki@example.jp", "大阪府大阪市北区梅田3-1"),
    (
        "KR",
        "김",
        "민준",
        "+821012345678",
        "minjun.kim@example.kr",
        "서울특별시 강남구 테헤란로 152",
    ),
]


def keyed(value: object, key: str = KEY) -> str:
    """The pseudonym the export gives ``value`` under ``key``, computed independently, as
    the docs say: of an id's 32 hex digits, of anything else's text."""
    text = value.hex if isinstance(value, uuid.UUID) else str(value)
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


@dataclass
class World:
    customers: dict[str, uuid.UUID] = field(default_factory=dict)
    vins: list[str] = field(default_factory=list)
    # Every string that would let someone find a person: none may be in a pseudonymised export.
    personal: set[str] = field(default_factory=set)


def day(n: int) -> datetime:
    """Noon (UTC) of the n-th day of the world."""
    return datetime.combine(FIRST_DAY + timedelta(days=n), datetime.min.time(), UTC) + timedelta(
        hours=12
    )


def populate(stores: ZoneStores) -> World:
    """Write the world through the zone stores, which place each row by residency."""
    world = World()
    with stores.session() as session:
        dealer = create_organization(
            session,
            name="Shanghai Pudong Motors",
            kind=OrganizationKind.DEALER,
            market="CN",
            address="上海市浦东新区世纪大道100号",
            location=Point(31.2304, 121.4737),
        )
        staff = create_user(
            session, name="zhou.minghui", role=UserRole.DEALER_STAFF, organization=dealer
        )
        world.personal |= {"zhou.minghui", staff.token}
        for n, (market, family, given, phone, email, address) in enumerate(PEOPLE):
            created = day(n % DAYS)
            customer = Customer(
                market=market, family_name=family, given_name=given, created=created
            )
            session.add(customer)
            session.flush()
            world.customers[f"{family}{given}"] = customer.id
            vin = f"LSVAU2180N21{n:05d}"
            world.vins.append(vin)
            text = f"我是{family}{given}，电话 {phone}，住在{address}"
            world.personal |= {family, given, phone, email, address, text, vin}
            vehicle = Vehicle(market=market, vin=vin, make="SAIC", model="Tourer", created=created)
            session.add(vehicle)
            session.flush()
            session.add_all(
                [
                    Identity(market=market, customer_id=customer.id, kind="phone", value=phone),
                    Identity(market=market, customer_id=customer.id, kind="email", value=email),
                    Consent(
                        market=market,
                        customer_id=customer.id,
                        purpose="marketing",
                        channel="*",
                        action=ConsentAction.GRANT,
                        source=f"form signed by {family}{given}",
                        created=created,
                    ),
                    Interaction(
                        market=market,
                        customer_id=customer.id,
                        channel="wechat",
                        direction=Direction.INBOUND,
                        touchpoint="wx_cn",
                        text=text,
                        summary=text[:40],
                        occurred_at=created,
                        organization_id=dealer.id,
                        created=created,
                    ),
                    Interaction(
                        market=market,
                        customer_id=customer.id,
                        channel="sms",
                        direction=Direction.OUTBOUND,
                        touchpoint="dealer",
                        text=f"{family}{given}様、ご来店ありがとうございます",
                        occurred_at=created + timedelta(days=1),
                        organization_id=dealer.id,
                        created=created + timedelta(days=1),
                    ),
                    Lead(
                        market=market,
                        customer_id=customer.id,
                        source="wechat",
                        vehicle_model="Tourer",
                        address=address,
                        latitude=31.2 + n / 100,
                        longitude=121.4 + n / 100,
                        dealer_id=dealer.id,
                        distance_km=4.5 + n,
                        created=created,
                    ),
                    Ownership(
                        market=market,
                        vehicle_id=vehicle.id,
                        customer_id=customer.id,
                        dealer_id=dealer.id,
                        started_on=created.date(),
                        created=created,
                    ),
                    Contract(
                        market=market,
                        customer_id=customer.id,
                        vehicle_id=vehicle.id,
                        organization_id=dealer.id,
                        kind=ContractKind.SALES,
                        reference=f"HT-{phone[-6:]}",
                        starts_on=created.date(),
                        amount=Decimal("189900.00"),
                        currency="CNY",
                        created=created,
                    ),
                    Case(
                        market=market,
                        customer_id=customer.id,
                        subject=f"{family}{given} reports a warning lamp",
                        opened_at=created,
                        organization_id=dealer.id,
                        created=created,
                    ),
                ]
            )
            world.personal.add(f"{family}{given}")
        world.personal |= {str(customer_id) for customer_id in world.customers.values()}
    return world


def database_counts(stores: ZoneStores) -> dict[tuple[str, str], int]:
    """Rows of each zone's tables, as the databases hold them (empty tables left out)."""
    counts = {}
    with stores.session() as session:
        for zone in stores.names:
            connection = session.zone_connection(zone)
            for model in stores.entities:
                count = connection.scalar(select(func.count()).select_from(table_of(model)))
                if count:
                    counts[zone, model.__tablename__] = int(count)
    return counts


def read(folder: Path, query: str, **parameters: Any) -> list[tuple[Any, ...]]:
    """Run ``query`` in DuckDB with the export as the view ``export`` (every table's rows,
    with the partition columns zone, table and day)."""
    connection = duckdb.connect()
    try:
        files = f"{folder}/**/*.parquet".replace("'", "''")
        connection.execute(
            f"CREATE VIEW export AS SELECT * FROM read_parquet('{files}',"  # noqa: S608 - a test's own folder
            " hive_partitioning = true, union_by_name = true)"
        )
        return connection.execute(query, parameters or None).fetchall()
    finally:
        connection.close()


def cells(folder: Path) -> list[str]:
    """Every value of every file in the export, as text (hashes, names and numbers alike)."""
    connection = duckdb.connect()
    try:
        values = []
        for path in sorted(folder.rglob("*.parquet")):
            relation = connection.read_parquet(str(path))
            for row in relation.fetchall():
                values += [str(value) for value in row if value is not None]
        return values
    finally:
        connection.close()
