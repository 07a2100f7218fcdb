"""The residency service: placements and the report as views, a migration planned and
carried out through it, and transfer assessments recorded with their audit, nothing
stored on bad input."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from regiocrm.interfaces.packs import PackError
from regiocrm.models import AuditEvent, Customer, Direction, Interaction, TransferAssessment
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.services.application import Application
from regiocrm.services.residency import (
    AssessmentError,
    MoveView,
    NewAssessment,
    ResidencyService,
)
from regiocrm.testing import upgrade_zones


def recorded(stores: ZoneStores) -> tuple[list[str], list[str]]:
    with stores.session() as session:
        return (
            list(session.scalars(select(TransferAssessment.reference))),
            list(session.scalars(select(AuditEvent.action))),
        )


def test_placements_name_each_markets_zones_and_what_an_export_needs(
    application: Application,
) -> None:
    placements = {(p.market, p.data_class): p for p in ResidencyService(application).placements()}
    china = placements["CN", "identity"]
    assert (china.zone, china.allowed[0], china.pack) == ("cn", "cn", "cn")
    assert china.as_json()["allowed"] == list(china.allowed)
    assert "assessment" in placements["CN", "financial"].export_requires


def test_a_fresh_deployment_holds_nothing_misplaced(application: Application) -> None:
    residency = ResidencyService(application)
    report = residency.report()
    assert [zone.zone for zone in report.zones] == ["main", "au", "cn", "jp", "kr"]
    assert (report.misplaced_rows, report.unreachable_zones) == (0, [])
    assert report.as_json()["misplaced_rows"] == 0
    assert residency.plan().moves == ()


def test_a_migration_is_planned_and_carried_out_through_the_service(
    deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    def opened(toml: str) -> Application:
        (deployment_dir / "regiocrm.toml").write_text(toml)
        app = Application.open(load_settings(regiocrm_hooks), regiocrm_hooks)
        upgrade_zones(app.stores, regiocrm_hooks)
        return app

    before = opened('[residency.placement.CN]\ncrm = "jp"\n')
    with before.transaction() as session:
        customer = Customer(market="CN")
        session.add(customer)
        session.flush()
        for n in range(3):
            session.add(
                Interaction(
                    market="CN",
                    customer_id=customer.id,
                    channel="sms",
                    direction=Direction.INBOUND,
                    touchpoint="test",
                    text=str(n),
                    occurred_at=utcnow(),
                )
            )
    before.close()
    after = opened('[residency.restrict.CN]\ncrm = ["cn"]\n')
    try:
        residency = ResidencyService(after)
        assert residency.report().misplaced_rows == 3
        planned = residency.plan(market="CN")
        assert [(m.table, m.market, m.source, m.target, m.rows) for m in planned.moves] == [
            ("interactions", "CN", "jp", "cn", 3)
        ]
        assert residency.plan(data_class="identity").moves == ()
        batches: list[tuple[MoveView, int]] = []
        done = residency.migrate(
            planned, batch_size=2, on_batch=lambda move, rows: batches.append((move, rows))
        )
        assert [rows for _move, rows in batches] == [2, 1]
        assert batches[0][0].table == "interactions"
        [moved] = done
        assert (moved.rows, moved.conflicts, moved.as_json()["moved"]) == (3, (), 3)
        assert residency.report().misplaced_rows == 0
        assert residency.plan().moves == ()
    finally:
        after.close()


def assessment(**changes: Any) -> NewAssessment:
    given: dict[str, Any] = {
        "market": "CN",
        "data_classes": ("financial",),
        "destination": "jp",
        "reference": "CAC-2026-0042",
        "approved_on": date(2026, 6, 1),
    }
    return NewAssessment(**{**given, **changes})


def test_an_assessment_is_recorded_per_class_each_audited(
    application: Application, migrated: ZoneStores
) -> None:
    residency = ResidencyService(application)
    kept = residency.record_assessment(
        assessment(data_classes=("identity", "crm", "identity"), reference=" PIPC-1 ")
    )
    assert [(a.data_class, a.reference, a.valid) for a in kept] == [
        ("identity", "PIPC-1", True),
        ("crm", "PIPC-1", True),
    ]
    assert recorded(migrated) == (
        ["PIPC-1", "PIPC-1"],
        ["assessment.recorded", "assessment.recorded"],
    )
    yesterday = utcnow().date() - timedelta(days=1)
    residency.record_assessment(assessment(market="KR", expires_on=yesterday))
    listed = residency.assessments(market="KR")
    assert [(a.market, a.valid) for a in listed] == [("KR", False)]
    assert listed[0].as_json()["expires_on"] == yesterday.isoformat()
    assert len(residency.assessments()) == 3


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"market": "US"}, PackError, "no pack serves market 'US'"),
        ({"data_classes": ("gossip",)}, AssessmentError, ", not 'gossip'$"),
        ({"data_classes": ()}, AssessmentError, "covers one or more of identity, crm"),
        ({"destination": "mars"}, AssessmentError, "'mars' is not a zone"),
        ({"expires_on": date(2026, 5, 31)}, AssessmentError, "expires before it was approved"),
        ({"reference": " "}, AssessmentError, "the reference is blank"),
    ],
    ids=["unserved", "unknown-class", "no-class", "unknown-destination", "backwards", "blank"],
)
def test_a_bad_assessment_stores_nothing(
    application: Application,
    migrated: ZoneStores,
    changes: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        ResidencyService(application).record_assessment(assessment(**changes))
    assert recorded(migrated) == ([], [])


def test_an_assessment_to_anywhere_or_a_file_is_accepted(application: Application) -> None:
    residency = ResidencyService(application)
    assert residency.destinations[-2:] == ["file", "*"]
    for destination in ("file", "*"):
        [kept] = residency.record_assessment(assessment(destination=destination))
        assert isinstance(kept.id, uuid.UUID)
        assert kept.destination == destination
