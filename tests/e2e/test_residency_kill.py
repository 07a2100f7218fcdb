"""``regiocrm residency migrate`` killed (SIGKILL, no clean-up of any kind) at random points
of its work, then run again until it finishes: every row exists exactly once, in an allowed
zone, with the content it had."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from zone_rows import by_id, contents, zones_of

from regiocrm.models import AuditEvent, Customer, Direction, Identity, Interaction
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.testing import deployment_environment, upgrade_zones

HOSTED_IN_JAPAN = '[residency.placement.CN]\nidentity = "jp"\ncrm = "jp"\n'
ONLY_IN_CHINA = '[residency.restrict.CN]\nidentity = ["cn"]\ncrm = ["cn"]\n'
CUSTOMERS = 150
ENTRIES = 6
KILLS = 5


def left_in_japan(stores: ZoneStores) -> int:
    with stores.engine("jp").connect() as connection:
        return sum(
            connection.execute(select(func.count()).select_from(model.__table__)).scalar_one()
            for model in (Customer, Identity, Interaction)
        )


def test_a_migration_killed_at_random_points_finishes_on_a_rerun_with_every_row_once(
    deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    config = deployment_dir / "regiocrm.toml"
    config.write_text(HOSTED_IN_JAPAN)
    stores = ZoneStores.open(load_settings(regiocrm_hooks), regiocrm_hooks)
    upgrade_zones(stores, regiocrm_hooks)
    start = datetime(2026, 11, 2, tzinfo=UTC)
    with stores.session() as session:
        for n in range(CUSTOMERS):
            customer = Customer(market="CN", family_name=f"客{n}")
            session.add(customer)
            session.flush()
            session.add(
                Identity(market="CN", customer_id=customer.id, kind="email", value=f"{n}@x.cn")
            )
            session.add_all(
                Interaction(
                    market="CN",
                    customer_id=customer.id,
                    channel="wechat",
                    direction=Direction.INBOUND,
                    touchpoint="wx",
                    text=f"{n}/{m}",
                    occurred_at=start + timedelta(minutes=m),
                )
                for m in range(ENTRIES)
            )
    before = contents(stores)
    total = left_in_japan(stores)
    assert total == CUSTOMERS * (2 + ENTRIES)
    config.write_text(ONLY_IN_CHINA)

    command = [sys.executable, "-m", "regiocrm", "residency", "migrate", "--batch-size", "5"]
    environment = deployment_environment()
    chance = random.Random(20261202)  # noqa: S311 - where to kill, not a secret
    # Kill each run once a random share has moved: at most 90% of the rows, and at least
    # 15% left for the last run to finish.
    thresholds = sorted(
        (int(total * chance.uniform(0.15, 0.9)) for _ in range(KILLS)), reverse=True
    )
    for stop_at in thresholds:
        child = subprocess.Popen(
            command,
            cwd=deployment_dir,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while child.poll() is None and time.monotonic() < deadline:
            if left_in_japan(stores) <= stop_at:
                os.kill(child.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        assert child.wait() == -signal.SIGKILL, "killed part-way, not finished"
    assert 0 < left_in_japan(stores) < total

    final = subprocess.run(
        command, cwd=deployment_dir, env=environment, capture_output=True, text=True, check=False
    )
    assert final.returncode == 0, final.stderr
    assert left_in_japan(stores) == 0

    after = contents(stores)
    for model in (Customer, Identity, Interaction):
        assert zones_of(after[model.__tablename__]) == {"cn"}
        assert stores.residency.allows("CN", model.__data_class__, "cn")
    for table, found in after.items():
        if table != "audit_events":
            assert by_id(found) == by_id(before[table]), f"{table} lost, gained or changed rows"
    with stores.session() as session:
        audited = session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "residency.moved")
        ).all()
    assert sum(int(detail["rows"]) for detail in audited) == total, "each batch audited once"
    stores.dispose()
