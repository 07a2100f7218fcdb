"""Request body limits, enforced before any route sees the request."""

from __future__ import annotations

from fastapi import status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from regiocrm.http.problems import problem


class BodySizeLimit:
    """Refuse with 413 any request whose body exceeds ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused at once. Otherwise the body is
    read here, counting as it streams in, so a chunked body or a false length cannot get
    round the limit; at most ``max_bytes`` are ever held, then replayed to the app.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return

        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = problem(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"request body larger than {self.max_bytes} bytes",
            instance=scope["path"],
        )
        await refusal(scope, receive, send)
