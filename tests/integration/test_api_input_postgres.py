"""API input PostgreSQL cannot store: a NUL is refused with 422 before anything is written,
as on SQLite, instead of failing in the database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from desk import Desk, open_desk
from sqlalchemy.engine import URL

from regiocrm.models import Case, Customer, Identity
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings

pytestmark = pytest.mark.postgres


@pytest.fixture
def desk_on_postgres(
    postgres_url: URL, deployment_dir: Path, regiocrm_hooks: Hooks
) -> Iterator[Desk]:
    settings = RegiocrmSettings(
        zones={"cn": postgres_url.render_as_string(hide_password=False)}, home_zone="cn"
    )
    with open_desk(settings, regiocrm_hooks) as desk:
        yield desk


@pytest.mark.parametrize(
    ("body", "places"),
    [
        ({"market": "CN", "family_name": "王\x00"}, [["body", "family_name"]]),
        (
            {"market": "CN", "identities": [{"kind": "phone", "value": "+8613800138000\x00"}]},
            [["body", "identities", 0, "value"]],
        ),
        (
            {"market": "CN", "company_name": "\x00", "given_name": "x\x00y"},
            [["body", "company_name"], ["body", "given_name"]],
        ),
    ],
    ids=["name", "identity", "two fields"],
)
def test_a_nul_in_a_new_customer_is_refused_and_nothing_is_stored(
    desk_on_postgres: Desk, body: dict[str, object], places: list[list[object]]
) -> None:
    desk = desk_on_postgres
    answer = desk.post("/api/customers", body)
    assert answer.status_code == 422, answer.text
    errors = answer.json()["errors"]
    assert {error["type"] for error in errors} == {"nul_character"}
    assert [error["loc"] for error in errors] == places
    assert (desk.count(Customer), desk.count(Identity)) == (0, 0)


def test_a_nul_in_the_query_or_in_a_case_is_refused(desk_on_postgres: Desk) -> None:
    desk = desk_on_postgres
    customer = desk.customer()
    found = desk.get("/api/customers", identity="phone:+8613800138000\x00")
    assert found.status_code == 422
    assert found.json()["errors"][0]["loc"] == ["query", "identity"]
    case = desk.post("/api/cases", {"customer_id": customer, "market": "CN", "subject": "刹\x00车"})
    assert case.status_code == 422
    assert desk.count(Case) == 0
    assert desk.get(f"/api/customers/{customer}").json()["family_name"] == "王"
