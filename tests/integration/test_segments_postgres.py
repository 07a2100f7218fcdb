"""Segments and campaign audiences on PostgreSQL: the same statements (the latest consent
entry as a scalar subquery, CASE, correlated EXISTS) as PostgreSQL plans them."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from regiocrm.crm.segments import Evaluation, Segment
from regiocrm.models import (
    Consent,
    ConsentAction,
    Contract,
    ContractKind,
    ContractStatus,
    Customer,
    Identity,
)
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.plugins.channels.line.testing import LineDriver
from regiocrm.testing import upgrade_zones

pytestmark = pytest.mark.postgres


def test_a_renewal_audience_on_postgresql(
    postgres_url: URL, deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    line = LineDriver()
    settings = load_settings(
        regiocrm_hooks,
        zones={
            **{
                zone: f"sqlite:///{deployment_dir / zone}.db" for zone in ("main", "cn", "kr", "au")
            },
            "jp": postgres_url.render_as_string(hide_password=False),
        },
        channel_accounts={"line_jp": line.account_settings()},
    )
    stores = ZoneStores.open(settings, regiocrm_hooks)
    upgrade_zones(stores, regiocrm_hooks)
    grant, withdraw = ConsentAction.GRANT, ConsentAction.WITHDRAW
    people = {
        "consented": [("line", grant)],
        "withdrew": [("line", grant), ("line", withdraw)],
        "everywhere": [("*", grant)],
        "not on line": [("*", grant), ("line", withdraw)],
        "never asked": [],
    }
    try:
        with stores.session() as session:
            start = utcnow() - timedelta(days=10)
            for number, (name, consents) in enumerate(people.items()):
                person = Customer(market="JP", family_name=name)
                session.add(person)
                session.flush()
                session.add(
                    Identity(
                        market="JP", customer_id=person.id, kind="line", value=line.sender(number)
                    )
                )
                session.add(
                    Contract(
                        market="JP",
                        customer_id=person.id,
                        kind=ContractKind.LEASE,
                        status=ContractStatus.ACTIVE,
                        starts_on=date(2024, 1, 1),
                        ends_on=date.today() + timedelta(days=20),
                    )
                )
                for step, (channel, action) in enumerate(consents):
                    session.add(
                        Consent(
                            market="JP",
                            customer_id=person.id,
                            purpose="marketing",
                            channel=channel,
                            action=action,
                            occurred_at=start + timedelta(days=step),
                        )
                    )
        evaluation = Evaluation(
            Segment.parse({"markets": ["JP"], "contract_ends_within_days": 60}),
            regiocrm_hooks.packs(),
            stores.residency,
            None,
        )
        channel = regiocrm_hooks.channel_registry(settings).channels["line"]
        with stores.session() as session:
            assert evaluation.audience(session, [channel]) == {"JP": {"line": 2, None: 3}}
            listed = {row[1] for row in evaluation.members(session, [channel])}
            names = dict(
                session.execute(
                    Customer.__table__.select().with_only_columns(Customer.id, Customer.family_name)
                ).all()
            )
        assert {names[customer] for customer in listed} == {"consented", "everywhere"}
    finally:
        stores.dispose()
