"""LINE's Messaging API as a served deployment's tests stand it in on loopback: the served
process sends through the LINE account's ``api_base`` pointed here, so nothing leaves the
machine, and a test reads what was sent."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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
