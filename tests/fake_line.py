"""LINE's Messaging API as a served deployment's tests stand it in on loopback: the served
process sends through the LINE account's ``api_base`` pointed here, so nothing leaves the
machine, and a test reads what was sent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from regiocrm.plugins.channels.line.testing import ACCESS_TOKEN, CHANNEL_SECRET, LineDriver

LINE = LineDriver()


@dataclass
class FakeLine:
    """LINE's Messaging API on loopback: accepts every reply and push, and keeps them."""

    base: str
    received: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def serving_fake_line() -> Iterator[FakeLine]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            received.append({"path": self.path, **json.loads(self.rfile.read(length))})
            body = json.dumps({"sentMessages": [{"id": str(len(received))}]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeLine(f"http://127.0.0.1:{server.server_address[1]}", received)
    finally:
        server.shutdown()
        server.server_close()


def line_account(name: str, market: str, line: FakeLine) -> str:
    """The settings of a LINE account whose API calls go to ``line``."""
    return (
        f"[channel_accounts.{name}]\n"
        'channel = "line"\n'
        f'market = "{market}"\n'
        f'channel_secret = "{CHANNEL_SECRET}"\n'
        f'access_token = "{ACCESS_TOKEN}"\n'
        f'api_base = "{line.base}"\n'
    )


def customer_writing_on_line(
    api: httpx.Client, account: str, sender: str, text: str, market: str
) -> str:
    """Post ``text`` from ``sender`` to the served LINE ``account``'s webhook, signed as LINE
    signs it, and wait for the served inbox to resolve the sender to a customer: their id."""
    webhook = str(api.base_url.join(f"/webhooks/line/{account}"))
    signed = LINE.text_message(
        webhook, sender=sender, text=text, message_id=f"m-{sender}", at=datetime.now(UTC)
    )
    assert signed.send(api, webhook).status_code == 200
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = api.get("/api/customers", params={"identity": f"line:{sender}", "market": market})
        if items := found.json()["items"]:
            return str(items[0]["id"])
        time.sleep(0.1)
    raise AssertionError(f"the LINE message from {sender} reached no customer")
