"""Segments: every filter evaluated by the database, the saved form validated."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from desk import Desk
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, func, not_, select
from sqlalchemy.orm import Session

from regiocrm.crm.access import organization_scope
from regiocrm.crm.accounts import create_organization
from regiocrm.crm.customers import consent_in_force
from regiocrm.crm.segments import Evaluation, Segment, SegmentError, consents
from regiocrm.models import (
    Base,
    Consent,
    ConsentAction,
    Customer,
    Direction,
    Interaction,
    OrganizationKind,
    Ownership,
    Vehicle,
)
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.residency.rules import ApartError
from regiocrm.testing import upgrade_zones

TODAY = date.today()


class People:
    def __init__(self, stores: ZoneStores) -> None:
        self.stores = stores
        self.ids: dict[str, uuid.UUID] = {}

    def add(self, name: str, market: str = "JP", locale: str | None = None) -> uuid.UUID:
        with self.stores.session() as session:
            person = Customer(market=market, family_name=name, preferred_locale=locale)
            session.add(person)
            session.flush()
            self.ids[name] = person.id
            return person.id

    def owns(
        self, name: str, model: str, years: float, *, ended: bool = False, dealer: Any = None
    ) -> None:
        market = "JP"
        with self.stores.session() as session:
            car = Vehicle(market=market, vin=f"JT{uuid.uuid4().hex[:15].upper()}", model=model)
            session.add(car)
            session.flush()
            session.add(
                Ownership(
                    market=market,
                    vehicle_id=car.id,
                    customer_id=self.ids[name],
                    dealer_id=dealer,
                    started_on=TODAY - timedelta(days=round(years * 365.25)),
                    ended_on=TODAY - timedelta(days=10) if ended else None,
                )
            )

    def wrote(self, name: str, days_ago: int) -> None:
        with self.stores.session() as session:
            session.add(
                Interaction(
                    market="JP",
                    customer_id=self.ids[name],
                    channel="line",
                    direction=Direction.INBOUND,
                    touchpoint="line_jp",
                    occurred_at=utcnow() - timedelta(days=days_ago),
                )
            )

    def matching(self, hooks: Hooks, scope: Any = None, **segment: Any) -> set[str]:
        evaluation = Evaluation(
            Segment.parse({"markets": ["JP"], **segment}),
            hooks.packs(),
            self.stores.residency,
            scope,
        )
        names = {value: key for key, value in self.ids.items()}
        with self.stores.session() as session:
            return {
                names[row[0]]
                for _market, statement in evaluation.statements([Customer.id])
                for row in session.execute(statement)
            }


@pytest.fixture
def people(migrated: ZoneStores) -> People:
    return People(migrated)


def test_owners_of_a_model_for_some_years(people: People, regiocrm_hooks: Hooks) -> None:
    for name in ("long", "new", "other model", "sold it", "nothing"):
        people.add(name)
    people.owns("long", "Tourer", 4)
    people.owns("new", "Tourer", 1)
    people.owns("other model", "Roadster", 4)
    people.owns("sold it", "Tourer", 4, ended=True)
    assert people.matching(regiocrm_hooks, vehicle_models=["Tourer"]) == {"long", "new"}
    assert people.matching(
        regiocrm_hooks, vehicle_models=["Tourer"], ownership_years={"min": 3}
    ) == {"long"}
    assert people.matching(regiocrm_hooks, ownership_years={"min": 3, "max": 5}) == {
        "long",
        "other model",
    }


def test_when_they_were_last_in_touch(people: People, regiocrm_hooks: Hooks) -> None:
    for name in ("this week", "two years ago", "never"):
        people.add(name)
    people.wrote("this week", 3)
    people.wrote("two years ago", 730)
    assert people.matching(regiocrm_hooks, last_interaction={"within_days": 30}) == {"this week"}
    assert people.matching(regiocrm_hooks, last_interaction={"more_than_days": 365}) == {
        "two years ago",
        "never",
    }


def test_a_locale_is_the_customers_or_their_markets(people: People, regiocrm_hooks: Hooks) -> None:
    people.add("chose none")
    people.add("chose Japanese", locale="ja_JP")
    people.add("chose English", locale="en_AU")
    assert people.matching(regiocrm_hooks, locales=["ja-JP"]) == {"chose none", "chose Japanese"}
    assert people.matching(regiocrm_hooks, locales=["en_AU"]) == {"chose English"}


def test_merged_records_are_not_counted_twice(people: People, regiocrm_hooks: Hooks) -> None:
    survivor = people.add("survivor")
    people.add("merged")
    with people.stores.session() as session:
        session.get_one(Customer, people.ids["merged"]).merged_into_id = survivor
    assert people.matching(regiocrm_hooks) == {"survivor"}


def test_a_dealers_segment_is_its_own_customers(people: People, regiocrm_hooks: Hooks) -> None:
    with people.stores.session() as session:
        osaka = create_organization(
            session, name="Osaka Motors", kind=OrganizationKind.DEALER, market="JP"
        )
        osaka_id = osaka.id
    people.add("bought in Osaka")
    people.add("bought elsewhere")
    people.owns("bought in Osaka", "Tourer", 2, dealer=osaka_id)
    people.owns("bought elsewhere", "Tourer", 2, dealer=uuid.uuid4())
    with people.stores.session() as session:
        scope = organization_scope(session, session.get_one(type(osaka), osaka_id))
    assert people.matching(regiocrm_hooks, scope=scope, vehicle_models=["Tourer"]) == {
        "bought in Osaka"
    }


@pytest.mark.parametrize(
    ("saved", "reason"),
    [
        ({"markets": ["JP"], "colour": "red"}, "unknown segment field 'colour'"),
        ({"markets": []}, "segment.markets: Tuple should have at least 1 item"),
        ({"markets": ["jp"]}, "segment.markets: 'jp' is not a market code"),
        ({"markets": ["JP"], "locales": ["xx_YY"]}, "segment.locales: 'xx_YY' is not a locale"),
        (
            {"markets": ["JP"], "last_interaction": {"within_days": 3, "more_than_days": 9}},
            "give within_days or more_than_days, one of them",
        ),
        (
            {"markets": ["JP"], "contract_kinds": ["lease"]},
            "contract_kinds narrows contract_ends_within_days: give both",
        ),
        (
            {"markets": ["JP"], "contract_ends_within_days": -1},
            "segment.contract_ends_within_days: Input should be greater than or equal to 0",
        ),
        (
            {"markets": ["JP"], "ownership_years": {"min": 1000000}},
            "segment.ownership_years.min: Input should be less than or equal to 100",
        ),
        (
            {"markets": ["JP"], "ownership_years": {"max": 1e300}},
            "segment.ownership_years.max: Input should be less than or equal to 100",
        ),
    ],
)
def test_a_bad_segment_names_the_field(saved: dict[str, Any], reason: str) -> None:
    with pytest.raises(SegmentError) as refused:
        Segment.parse(saved)
    assert reason in str(refused.value)


def test_a_segment_round_trips_through_its_saved_form() -> None:
    segment = Segment.parse(
        {
            "markets": ["JP", "JP", "KR"],
            "locales": ["ja-JP"],
            "contract_ends_within_days": 60,
            "contract_kinds": ["lease"],
            "ownership_years": {"min": 3},
        }
    )
    assert segment.markets == ("JP", "KR")
    assert Segment.parse(segment.as_saved()) == segment


def test_a_segment_relating_classes_kept_apart_is_refused(
    deployment_dir: Any, regiocrm_hooks: Hooks
) -> None:
    (deployment_dir / "regiocrm.toml").write_text('[residency.placement.CN]\ncrm = "jp"\n')
    settings = load_settings(regiocrm_hooks)
    stores = ZoneStores.open(settings, regiocrm_hooks)
    upgrade_zones(stores, regiocrm_hooks)
    try:
        evaluation = Evaluation(
            Segment.parse({"markets": ["CN"], "vehicle_models": ["Tourer"]}),
            regiocrm_hooks.packs(),
            stores.residency,
            None,
        )
        with pytest.raises(ApartError) as refused:
            evaluation.statements([func.count()])
        assert str(refused.value).startswith("CN keeps crm in jp, identity in cn")
        consent_only = Evaluation(
            Segment.parse({"markets": ["CN"]}), regiocrm_hooks.packs(), stores.residency, None
        )
        with stores.session() as session:
            assert consent_only.count(session) == {"CN": 0}
            assert session.scalar(select(func.count()).select_from(Customer)) == 0
    finally:
        stores.dispose()


histories = st.lists(
    st.lists(
        st.tuples(
            st.sampled_from(["line", "*", "whatsapp"]),
            st.sampled_from(list(ConsentAction)),
            st.integers(0, 3),  # days: the same day twice leaves the tie to the ids
        ),
        max_size=5,
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(histories=histories)
def test_both_forms_of_consent_in_force_agree_with_the_ledger(
    histories: list[list[tuple[str, ConsentAction, int]]],
) -> None:
    """The latest entry looked up (SQLite's form) and the grant with no later entry
    (PostgreSQL's) pick the same customers, those whose own latest entry for LINE or every
    channel, read one by one, is a grant."""
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine, tables=[Customer.__table__, Consent.__table__])
    start = utcnow()
    with Session(engine) as session:
        for history in histories:
            person = Customer(market="JP", family_name="x")
            session.add(person)
            session.flush()
            for channel, action, day in history:
                session.add(
                    Consent(
                        market="JP",
                        customer_id=person.id,
                        purpose="marketing",
                        channel=channel,
                        action=action,
                        occurred_at=start + timedelta(days=day),
                    )
                )
        session.flush()
        one_by_one = {
            person
            for person in session.scalars(select(Customer.id))
            if consent_in_force(session, [person], "marketing", "line") is not None
        }
        for dialect in ("sqlite", "postgresql"):
            condition = consents("marketing", "line", dialect)
            found = set(session.scalars(select(Customer.id).where(condition)))
            assert found == one_by_one, dialect
            refused = set(session.scalars(select(Customer.id).where(not_(condition))))
            assert refused == set(session.scalars(select(Customer.id))) - one_by_one, dialect


def test_a_segment_owned_for_a_million_years_is_refused_by_the_api(desk: Desk) -> None:
    answer = desk.post(
        "/api/segments/count",
        {"segment": {"markets": ["CN"], "ownership_years": {"min": 1000000}}},
    )
    assert answer.status_code == 400
    assert (
        "ownership_years.min: Input should be less than or equal to 100"
        in (answer.json()["detail"])
    )
