"""``POST /api/telematics/events``: NDJSON batches from a provider's token, stored whole or
not at all, answered with the counts once committed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from connected_cars import (
    NOON,
    OSAKA_VIN,
    SHANGHAI_VIN,
    UNKNOWN_VIN,
    Car,
    own_car,
    stored_events,
)
from fastapi.testclient import TestClient
from sqlalchemy import select

from regiocrm.crm.accounts import create_organization, create_user, set_password
from regiocrm.http.app import create_app
from regiocrm.interfaces.terms import OrganizationKind, UserRole
from regiocrm.models import User
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.plugins import get_plugin_manager
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores
from regiocrm.services.application import Application
from regiocrm.services.signin import SignInRefused, SignInService
from regiocrm.testing import upgrade_zones

PATH = "/api/telematics/events"
MAX_EVENTS = 5
MAX_BYTES = 4096


@dataclass
class Provider:
    client: TestClient
    app: Application
    tokens: dict[str, str]
    cars: dict[str, Car]

    def post(self, body: str | bytes, who: str = "cn provider") -> Any:
        headers = {"Content-Type": "application/x-ndjson"}
        if who:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return self.client.post(PATH, content=body, headers=headers)


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """One served deployment for the module (serving one per test would cost seconds):
    each test posts events of its own ids and looks only at those."""
    settings = RegiocrmSettings(
        data_dir=tmp_path_factory.mktemp("telematics") / "var",
        http={"max_body_bytes": MAX_BYTES},
        telematics={"max_batch_events": MAX_EVENTS},
    )
    hooks = Hooks(get_plugin_manager(entry_points=False))
    # Migrated before the app opens them: the copy of a migrated template is quicker than
    # alembic in zones the app created.
    stores = ZoneStores.open(settings, hooks)
    upgrade_zones(stores, hooks)
    stores.dispose()
    with TestClient(create_app(settings, hooks)) as client:
        app: Application = client.app.state.services  # type: ignore[attr-defined]
        tokens = {}
        with app.transaction() as session:
            for name, kind, role, market in (
                ("cn provider", OrganizationKind.OEM, UserRole.TELEMATICS_PROVIDER, "CN"),
                ("jp provider", OrganizationKind.OEM, UserRole.TELEMATICS_PROVIDER, "JP"),
                ("dealer", OrganizationKind.DEALER, UserRole.DEALER_STAFF, "CN"),
                ("centre", OrganizationKind.OEM, UserRole.COMPETENCE_CENTRE, "CN"),
            ):
                org = create_organization(session, name=name, kind=kind, market=market)
                tokens[name] = create_user(session, name=name, role=role, organization=org).token
        cars = {
            "CN": own_car(app, SHANGHAI_VIN, "CN", "Shanghai Motors"),
            "JP": own_car(app, OSAKA_VIN, "JP", "Osaka Motors"),
        }
        yield Provider(client, app, tokens, cars)


def stored(provider: Provider, prefix: str) -> list[tuple[str, str, str]]:
    """(market, event id, kind) of the events stored whose ids start with ``prefix``."""
    return [row for row in stored_events(provider.app) if row[1].startswith(prefix)]


def line(vin: str = SHANGHAI_VIN, event_id: str = "e1", **values: Any) -> str:
    event = {
        "vin": vin,
        "event_id": event_id,
        "kind": "mileage",
        "occurred_at": NOON.isoformat(),
        "payload": {"odometer_km": 12840},
        **values,
    }
    return json.dumps(event) + "\n"


def test_a_batch_is_stored_and_answered_with_its_counts(provider: Provider) -> None:
    body = line(event_id="ok-1") + "\n" + line(event_id="ok-2", kind="service_due")
    answer = provider.post(body + line(UNKNOWN_VIN, "ok-3"))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "stored": 2,
        "duplicates": 0,
        "unknown_vehicles": 1,
        "unknown_vins": [UNKNOWN_VIN],
        "leads": 1,
        "cases": 0,
        "expired": 0,
    }
    assert stored(provider, "ok-") == [("CN", "ok-1", "mileage"), ("CN", "ok-2", "service_due")]


def test_a_redelivered_batch_is_answered_as_duplicates(provider: Provider) -> None:
    body = line(event_id="again-1") + line(event_id="again-2")
    provider.post(body)
    again = provider.post(body)
    assert again.status_code == 200
    assert (again.json()["stored"], again.json()["duplicates"]) == (0, 2)
    assert len(stored(provider, "again-")) == 2


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (line(event_id="bad-3", kind="tyre_change"), "line 3: kind 'tyre_change' is not one of"),
        ('{"vin": "LSVAU2180N2183294", \n', "line 3: Expecting property name"),
        (line(event_id="bad-3", payload={"odometer_km": float("nan")}), "line 3: NaN is not"),
        (line(event_id="bad-3", payload={"note": "a\x00b"}), "line 3: payload.note: a NUL"),
        (line(event_id="bad-3", occurred_at="2026-12-01T12:00:00"), "line 3: occurred_at"),
        (line("LSVAU2180N218329O", "bad-3"), "line 3: vin 'LSVAU2180N218329O' is not 17"),
    ],
    ids=["kind", "json", "nan", "nul", "offset", "vin"],
)
def test_a_bad_line_is_400_naming_it_and_nothing_of_the_batch_is_stored(
    provider: Provider, bad: str, reason: str
) -> None:
    answer = provider.post(
        line(event_id="bad-1") + line(event_id="bad-2", kind="service_due") + bad
    )
    assert answer.status_code == 400
    assert reason in answer.json()["detail"]
    assert stored(provider, "bad-") == []


def test_a_body_that_is_not_utf8_or_holds_no_event_is_400(provider: Provider) -> None:
    assert "UTF-8" in provider.post(b"\xff\xfe{}").json()["detail"]
    assert "no event" in provider.post("\n \n").json()["detail"]


def test_a_batch_over_the_event_limit_is_413_and_stores_nothing(provider: Provider) -> None:
    body = "".join(line(event_id=f"many-{n}") for n in range(MAX_EVENTS + 1))
    answer = provider.post(body)
    assert answer.status_code == 413
    assert f"more than {MAX_EVENTS}" in answer.json()["detail"]
    assert stored(provider, "many-") == []


def test_a_body_over_the_size_cap_is_413_and_stores_nothing(provider: Provider) -> None:
    answer = provider.post(line(event_id="big-1", payload={"pad": "x" * MAX_BYTES}))
    assert answer.status_code == 413
    assert stored(provider, "big-") == []


def test_no_token_is_401_and_a_dealers_token_403(provider: Provider) -> None:
    assert provider.post(line(event_id="who-1"), who="").status_code == 401
    answer = provider.post(line(event_id="who-2"), who="dealer")
    assert answer.status_code == 403
    assert stored(provider, "who-") == []


def test_a_provider_posts_for_its_own_markets_vehicles_only(provider: Provider) -> None:
    """A JP provider's event of a Shanghai car is as one of a VIN unknown: not stored, and
    nothing told about the CN vehicle."""
    answer = provider.post(
        line(SHANGHAI_VIN, "own-1") + line(OSAKA_VIN, "own-2"), who="jp provider"
    )
    assert answer.json()["unknown_vins"] == [SHANGHAI_VIN]
    assert stored(provider, "own-") == [("JP", "own-2", "mileage")]


def test_a_provider_has_no_console_even_with_a_password(provider: Provider) -> None:
    with provider.app.transaction() as session:
        user = session.scalars(select(User).where(User.name == "jp provider")).one()
        set_password(session, user, "a long enough password", min_length=12)
    with pytest.raises(SignInRefused):
        SignInService(provider.app).sign_in("jp provider", "a long enough password", address="t")


def test_the_customers_vehicles_report_to_those_who_see_the_customer(provider: Provider) -> None:
    osaka = provider.cars["JP"]
    provider.post(line(OSAKA_VIN, "seen-1", payload={"odometer_km": 4321}), who="jp provider")
    path = f"/api/customers/{osaka.customer_id}/telematics"
    centre = {"Authorization": f"Bearer {provider.tokens['centre']}"}
    answer = provider.client.get(path, headers=centre).json()
    assert [(m["vin"], m["odometer_km"]) for m in answer["mileage"]] == [(OSAKA_VIN, 4321)]
    assert answer["events"][0]["local_time"].endswith(" JST")
    dealer = {"Authorization": f"Bearer {provider.tokens['dealer']}"}
    assert provider.client.get(path, headers=dealer).status_code == 404
    provider_token = {"Authorization": f"Bearer {provider.tokens['jp provider']}"}
    assert provider.client.get(path, headers=provider_token).status_code == 403
