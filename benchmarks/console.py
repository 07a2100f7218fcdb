"""Server time of the console's pages beside the API calls that read the same data, in the
same run.

    python benchmarks/console.py                 # 10,000 conversations, 2,000-entry timeline
    python benchmarks/console.py --runs 50 --conversations 2000

A fresh embedded SQLite deployment (a temporary folder) is seeded through the code the
application writes with: customers registered as the CRM registers them, and every message
written by the timeline's own hot-path writer, which keeps each conversation up to date.
There are ``--conversations`` conversations (customers writing on WeChat, LINE, KakaoTalk,
WhatsApp and SMS), and one customer whose timeline holds ``--timeline`` entries from LINE
and the call centre, with cases open.

Each request is served in process (a TestClient on the application ``regiocrm serve``
runs), timed from the call to the answer, ``--runs`` times after two warm-up calls; the
median and the 95th percentile are printed, and the ratio of a page's median to its API's
(the goal: at most 2x), and the raw SQL reading the same rows straight from the zone
(``page/raw``, ``API/raw``: what the HTTP stack, the session or token, the scope and the
audit record of each read cost above the rows themselves):

- the inbox page (``/inbox``, signed in as a call-centre agent) against
  ``GET /api/conversations`` with the same filters and page size;
- the customer's page (``/customers/{id}``) against the API calls
  that read the same data: the customer, their timeline, and the cases, contracts and leads
  listed for them (leads are listed for the caller: the API filters them by no customer).
"""

from __future__ import annotations

import argparse
import re
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from regiocrm.console.inbox import PAGE_SIZE
from regiocrm.crm.accounts import create_organization, create_user, set_password
from regiocrm.crm.customers import Customers, NewCustomer
from regiocrm.crm.timeline import MessageEntry, append_once
from regiocrm.http.app import create_app
from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.terms import Direction, OrganizationKind, UserRole
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.ids import new_id
from regiocrm.platform.migrations import Migrator
from regiocrm.platform.plugins import get_plugin_manager
from regiocrm.platform.settings import RegiocrmSettings, load_settings
from regiocrm.platform.stores import ZoneStores

CHANNELS = ("wechat", "line", "kakao", "whatsapp", "sms")
START = datetime(2026, 11, 1, tzinfo=UTC)
PASSWORD = secrets.token_urlsafe(24)
LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


def entry(customer: uuid.UUID, channel: str, n: int, direction: Direction) -> MessageEntry:
    return MessageEntry(
        id=new_id(),
        market="CN",
        customer_id=customer,
        channel=channel,
        direction=direction,
        touchpoint=f"{channel}_cn",
        text=f"message {n}: 你好，我想预约保养",
        summary=None,
        external_id=None,
        occurred_at=START + timedelta(seconds=n),
        case_id=None,
    )


def seed(
    settings: RegiocrmSettings, hooks: Hooks, conversations: int, timeline: int
) -> tuple[str, uuid.UUID]:
    """The deployment's data; the agent's API token and the customer with the long
    timeline."""
    stores = ZoneStores.open(settings, hooks)
    Migrator(stores, hooks).upgrade()
    with stores.session() as session:
        brand = create_organization(
            session, name="Brand China", kind=OrganizationKind.OEM, market="CN"
        )
        agent = create_user(
            session, name="lin", role=UserRole.CALL_CENTRE_AGENT, organization=brand
        )
        set_password(session, agent.user, PASSWORD, min_length=settings.console.min_password_length)
        token = agent.token
        customers = Customers(session, hooks)
        writers = [
            customers.create(NewCustomer(market="CN", family_name="王", given_name=f"{n}号")).id
            for n in range(-(-conversations // len(CHANNELS)))
        ]
        known = customers.create(NewCustomer(market="CN", family_name="李", given_name="明")).id
    with stores.session() as session:
        connection = session.zone_connection(session.residency.zone_for("CN", DataClass.CRM))
        for n in range(conversations):
            customer = writers[n // len(CHANNELS)]
            append_once(
                connection, entry(customer, CHANNELS[n % len(CHANNELS)], n, Direction.INBOUND)
            )
        for n in range(timeline):
            channel, direction = (
                ("line", Direction.INBOUND) if n % 2 else ("call_centre", Direction.OUTBOUND)
            )
            append_once(connection, entry(known, channel, conversations + n, direction))
    stores.dispose()
    return token, known


def signed_in(client: TestClient) -> None:
    """Sign the client in as the agent, as the sign-in form does."""
    form = client.get("/login")
    token = LOGIN_TOKEN.search(form.text)
    assert token, form.text
    answer = client.post(
        "/login",
        data={"username": "lin", "password": PASSWORD, "login_token": token.group(1)},
    )
    assert answer.status_code == 303, answer.text


def timings(
    client: TestClient,
    page: Sequence[str],
    api: Sequence[str],
    runs: int,
    bearer: dict[str, str],
) -> tuple[list[float], list[float]]:
    """Seconds each run takes to get the page, and to make the API calls reading the same
    data, after two warm-up runs. The two alternate, so that a load on the machine weighs
    on both alike."""

    def once(paths: Sequence[str], headers: dict[str, str]) -> float:
        began = time.perf_counter()
        for path in paths:
            answer = client.get(path, headers=headers)
            assert answer.status_code == 200, (path, answer.status_code)
        return time.perf_counter() - began

    for _warm_up in range(2):
        once(page, {})
        once(api, bearer)
    pages, apis = [], []
    for _run in range(runs):
        pages.append(once(page, {}))
        apis.append(once(api, bearer))
    return pages, apis


INBOX_SQL = (
    "SELECT conversations.*, customers.family_name, customers.given_name FROM conversations"
    " JOIN customers ON customers.id = conversations.customer_id"
    f" ORDER BY conversations.last_message_at DESC, conversations.id DESC LIMIT {PAGE_SIZE}"
)
CUSTOMER_SQL = (
    "SELECT * FROM customers WHERE id = :customer",
    "SELECT * FROM identities WHERE customer_id = :customer",
    "SELECT * FROM interactions WHERE customer_id = :customer"
    f" ORDER BY occurred_at DESC, id DESC LIMIT {PAGE_SIZE}",
    "SELECT * FROM cases WHERE customer_id = :customer",
    "SELECT * FROM contracts WHERE customer_id = :customer",
    "SELECT * FROM leads WHERE customer_id = :customer",
)


def raw_sql(engine: Engine, statements: Sequence[str], customer: uuid.UUID, runs: int) -> float:
    """The median seconds raw SQL takes to read what a page shows, on the zone that holds
    it, through the driver alone: the reference each page and API call is set against."""
    bound = {"customer": customer.hex}
    seconds = []
    with engine.connect() as connection:
        for _run in range(runs + 2):
            began = time.perf_counter()
            for statement in statements:
                connection.execute(text(statement), bound).all()
            seconds.append(time.perf_counter() - began)
    return statistics.median(seconds[2:])


def report(label: str, seconds: list[float]) -> float:
    """Print the median and 95th percentile in milliseconds; the median."""
    median = statistics.median(seconds)
    p95 = statistics.quantiles(seconds, n=20)[18] if len(seconds) > 1 else seconds[0]
    print(f"{label:<58} median {median * 1000:8.1f} ms   p95 {p95 * 1000:8.1f} ms")
    return median


def compare(label: str, page: float, api: float, raw: float) -> None:
    verdict = "ok" if page <= 2 * api else "OVER the 2x goal"
    print(
        f"ratio {label}: page/API {page / api:.2f}x ({verdict});"
        f" raw SQL {raw * 1000:.2f} ms, page/raw {page / raw:.0f}x, API/raw {api / raw:.0f}x"
    )


def run(folder: Path, conversations: int, timeline: int, runs: int) -> None:
    hooks = Hooks(get_plugin_manager(entry_points=False))
    settings = load_settings(hooks, data_dir=folder)
    began = time.perf_counter()
    token, customer = seed(settings, hooks, conversations, timeline)
    print(
        f"seeded {conversations:,} conversations and a {timeline:,}-entry timeline"
        f" in {time.perf_counter() - began:.1f} s (SQLite, {folder})"
    )
    stores = ZoneStores.open(settings, hooks)
    with stores.session() as session:
        # The embedded default keeps China's customers and their CRM rows in one zone.
        engine = stores.engine(session.residency.zone_for("CN", DataClass.CRM))
    app = create_app(settings, hooks)
    bearer = {"Authorization": f"Bearer {token}"}
    with TestClient(app, follow_redirects=False) as client:
        signed_in(client)
        for filters, query in (
            ("", f"limit={PAGE_SIZE}"),
            ("?unread=1&channel=line", f"unread=true&channel=line&limit={PAGE_SIZE}"),
        ):
            pages, apis = timings(
                client, [f"/inbox{filters}"], [f"/api/conversations?{query}"], runs, bearer
            )
            page = report(f"/inbox{filters} ({PAGE_SIZE} rows)", pages)
            api = report(f"GET /api/conversations?{query}", apis)
            compare(f"inbox{filters}", page, api, raw_sql(engine, [INBOX_SQL], customer, runs))
        reads = [
            f"/api/customers/{customer}",
            f"/api/customers/{customer}/timeline?limit={PAGE_SIZE}",
            f"/api/cases?customer_id={customer}",
            f"/api/contracts?customer_id={customer}",
            "/api/leads",
        ]
        pages, apis = timings(client, [f"/customers/{customer}"], reads, runs, bearer)
        page = report(f"/customers/{{id}} ({timeline:,} entries)", pages)
        api = report("the same through the API (5 calls)", apis)
        compare("customer page", page, api, raw_sql(engine, CUSTOMER_SQL, customer, runs))
    stores.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=10_000, help="conversations seeded")
    parser.add_argument("--timeline", type=int, default=2_000, help="one customer's entries")
    parser.add_argument("--runs", type=int, default=30, help="timed requests per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run(Path(folder), args.conversations, args.timeline, args.runs)


if __name__ == "__main__":
    main()
