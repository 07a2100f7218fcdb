"""The people of the console's page tests and what they work on: a Shanghai brand with two
call-centre agents, two dealers with a user each and a partner auditor, their customers and
cases set up through the API as its users would, and messages written as the inbox writes
them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from console_client import ConsoleBrowser, ConsoleDeployment
from timeline_messages import write_message

from regiocrm.interfaces.terms import Direction
from regiocrm.models import OrganizationKind, UserRole


class ConsoleWorld:
    """``lin`` and ``mei`` (agents), ``zhou`` (Shanghai Motors), ``wang`` (Pudong Motors),
    ``audrey`` (partner auditor); all in China."""

    def __init__(self, console: ConsoleDeployment) -> None:
        self.console = console
        brand = console.organization("Brand China")
        shanghai = console.organization("Shanghai Motors", OrganizationKind.DEALER)
        pudong = console.organization("Pudong Motors", OrganizationKind.DEALER)
        self.tokens = {
            "lin": console.user("lin", UserRole.CALL_CENTRE_AGENT, brand),
            "mei": console.user("mei", UserRole.CALL_CENTRE_AGENT, brand),
            "zhou": console.user("zhou", UserRole.DEALER_STAFF, shanghai),
            "wang": console.user("wang", UserRole.DEALER_STAFF, pudong),
            "audrey": console.user("audrey", UserRole.PARTNER_AUDITOR, brand),
        }
        self.api = console.browser().client

    def signed_in(self, user: str) -> ConsoleBrowser:
        """A browser of ``user``'s, signed in, asking for English pages (a user with no
        language of their own otherwise reads their market's)."""
        browser = self.console.browser()
        browser.client.headers["Accept-Language"] = "en"
        assert browser.sign_in(user).status_code == 303
        return browser

    def call(
        self, user: str, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """``user``'s API call, which must succeed; its answer."""
        answer = self.api.request(
            method, path, json=body, headers={"Authorization": f"Bearer {self.tokens[user]}"}
        )
        assert answer.status_code < 300, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def customer(self, user: str, family_name: str, given_name: str = "伟") -> uuid.UUID:
        """A customer ``user`` registered (a dealer's is linked to the dealership)."""
        body = {"market": "CN", "family_name": family_name, "given_name": given_name}
        return uuid.UUID(self.call(user, "POST", "/api/customers", body)["id"])

    def case(
        self,
        user: str,
        customer: uuid.UUID,
        subject: str,
        priority: str = "normal",
        days_ago: int = 0,
    ) -> str:
        """A case ``user`` opened ``days_ago`` (its clocks start then)."""
        opened = datetime.now(UTC) - timedelta(days=days_ago)
        body = {
            "customer_id": str(customer),
            "market": "CN",
            "subject": subject,
            "priority": priority,
            "opened_at": opened.isoformat(),
        }
        return str(self.call(user, "POST", "/api/cases", body)["id"])

    def move(self, user: str, case: str, *states: str) -> None:
        for state in states:
            self.call(user, "POST", f"/api/cases/{case}/transition", {"to": state})

    def message(
        self,
        customer: uuid.UUID,
        text: str,
        at: datetime,
        *,
        channel: str = "wechat",
        direction: Direction = Direction.INBOUND,
    ) -> None:
        """A message on the customer's timeline, written as the inbox writes it."""
        with self.console.stores.session() as session:
            write_message(session, customer, text, at, channel=channel, direction=direction)
