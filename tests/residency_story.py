"""The seed's residency story, played on whatever zones a test gives it.

China's CRM data (customer master data included) is hosted in Japan; financial data must
stay in China. Then the rule changes: CRM data must be hosted in China too. The report
flags what sits in Japan, the migration moves it with nothing lost or duplicated (checked
row by row against a snapshot taken before), and the report comes back clean.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from zone_rows import by_id, contents, in_zone

from regiocrm.http.app import create_app
from regiocrm.models import Base, Contract, ContractKind
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores, model_of
from regiocrm.plugins.channels.wechat.testing import WeChatDriver

DRIVER = WeChatDriver()
ACCOUNT = "wx_cn"
CUSTOMERS = 6
MESSAGES_EACH = 3
MOVED_CLASSES = ("identity", "crm")


def settings_file(zones: dict[str, str] | None, residency: str) -> str:
    """A deployment with one WeChat account in China, on ``zones`` (the embedded default
    when None), with the residency tables given."""
    lines = []
    if zones:
        lines += ['home_zone = "cn"', "[zones]", *(f'{z} = "{url}"' for z, url in zones.items())]
    lines += [f"[channel_accounts.{ACCOUNT}]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in DRIVER.account_settings().items()]
    return "\n".join([*lines, residency]) + "\n"


HOSTED_IN_JAPAN = '[residency.placement.CN]\nidentity = "jp"\ncrm = "jp"\n'
ONLY_IN_CHINA = '[residency.restrict.CN]\nidentity = ["cn"]\ncrm = ["cn"]\n'


def data_class_of(table: str) -> str:
    model = model_of(Base.metadata.tables[table])
    assert model is not None
    return model.__data_class__.value


def play(
    workdir: Path,
    hooks: Hooks,
    cli: Callable[..., Any],
    zones: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Play the story in ``workdir`` (the working folder ``cli`` runs in); returns what a
    test may want to look at further."""
    config = workdir / "regiocrm.toml"
    config.write_text(settings_file(zones, HOSTED_IN_JAPAN))
    assert cli("db", "upgrade").exit_code == 0
    admin = cli("users", "add", "li", "--role", "admin")
    assert admin.exit_code == 0, admin.stderr
    auth = {"Authorization": f"Bearer {admin.last_line}"}

    # Customers come in through WeChat, and the call centre adds one with a phone number.
    provider = httpx.Client(transport=httpx.MockTransport(DRIVER.provider_api))
    settings = load_settings(hooks)
    url = f"http://testserver/webhooks/wechat/{ACCOUNT}"
    with TestClient(create_app(settings, hooks, http_client=provider)) as client:
        start = datetime.now(UTC) - timedelta(minutes=1)
        for n in range(CUSTOMERS):
            for m in range(MESSAGES_EACH):
                at = start + timedelta(seconds=MESSAGES_EACH * n + m)
                request = DRIVER.text_message(
                    url, sender=DRIVER.sender(n), text=f"你好 {m}", message_id=f"{n}{m:04d}", at=at
                )
                answer = request.send(client, url)
                assert answer.status_code == 200, answer.text
        client.app.state.services.inbox.drain()
        created = client.post(
            "/api/customers",
            json={
                "market": "CN",
                "family_name": "王",
                "given_name": "小明",
                "identities": [{"kind": "phone", "value": "13800138000"}],
                "consents": [{"purpose": "service", "channel": "*"}],
            },
            headers=auth,
        )
        assert created.status_code == 201, created.text
        customer_id = created.json()["id"]
        stores = client.app.state.services.stores
        with stores.session() as session:
            for kind in (ContractKind.SALES, ContractKind.FINANCING):
                session.add(
                    Contract(
                        market="CN",
                        customer_id=uuid.UUID(customer_id),
                        kind=kind,
                        starts_on=date(2026, 11, 1),
                    )
                )
        before = contents(stores)
    provider.close()

    # Where the rows landed: identity and crm data in Japan, financial data in China.
    def tables_in(zone: str) -> Counter[str]:
        return Counter(
            {
                table: len(in_zone(rows, zone))
                for table, rows in before.items()
                if in_zone(rows, zone)
            }
        )

    assert tables_in("jp")["customers"] == CUSTOMERS + 1
    assert tables_in("jp")["interactions"] == CUSTOMERS * MESSAGES_EACH
    assert tables_in("jp")["inbox_messages"] == CUSTOMERS * MESSAGES_EACH
    assert tables_in("jp")["consents"] == 1
    assert tables_in("cn")["contracts"] == 2
    assert tables_in("jp")["contracts"] == 0
    assert tables_in("cn")["customers"] == 0

    # The rule narrows: China's identity and crm data may only be in China now.
    config.write_text(settings_file(zones, ONLY_IN_CHINA))
    flagged = cli("residency", "report", "--json")
    assert flagged.exit_code == 1
    report = json.loads(flagged.stdout)
    misplaced = {
        (zone["zone"], entry["data_class"]): entry
        for zone in report["zones"]
        for entry in zone["holdings"]
        if entry["status"] != "ok"
    }
    in_japan = sum(
        len(in_zone(rows, "jp"))
        for table, rows in before.items()
        if data_class_of(table) in MOVED_CLASSES
    )
    assert set(misplaced) == {("jp", data_class) for data_class in MOVED_CLASSES}
    assert {entry["status"] for entry in misplaced.values()} == {"forbidden"}
    assert {entry["placement"] for entry in misplaced.values()} == {"cn"}
    assert report["misplaced_rows"] == in_japan

    moved = cli("residency", "migrate", "--batch-size", "4", "--json")
    assert moved.exit_code == 0, moved.stderr
    assert sum(m["moved"] for m in json.loads(moved.stdout)["moved"]) == in_japan

    # Nothing lost, nothing duplicated: every row once, with the content it had.
    after_stores = ZoneStores.open(load_settings(hooks), hooks)
    try:
        after = contents(after_stores)
    finally:
        after_stores.dispose()
    for table, rows in after.items():
        if table == "audit_events":
            assert by_id(before[table]).items() <= by_id(rows).items(), "audit events kept"
        else:
            assert by_id(rows) == by_id(before[table]), f"{table} changed in the move"
        assert not in_zone(rows, "jp"), f"{table} left rows in Japan"

    clean = cli("residency", "report", "--json")
    assert clean.exit_code == 0, clean.stdout
    assert json.loads(clean.stdout)["misplaced_rows"] == 0
    again = cli("residency", "migrate")
    assert (again.exit_code, again.stdout) == (
        0,
        "every row is where it is placed: nothing to move\n",
    )
    return {"customer_id": customer_id, "auth": auth, "moved_rows": in_japan, "before": before}
