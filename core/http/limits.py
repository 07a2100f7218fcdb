"""Request body limits, enforced before any route sees the request."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from regiocrm.http.problems import problem


class BodyTooLarge(Exception):
    """A streamed body (an upload) went past its path's limit while the route read it: the
    route answers 413 (:data:`BodySizeLimit.streamed`)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"request body larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


class BodySizeLimit:
    """Refuse with 413 any request whose body exceeds ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused at once. Otherwise the body is
    read here, counting as it streams in, so a chunked body or a false length cannot get
    round the limit; at most ``max_bytes`` are ever held, then replayed to the app.

    A path in ``streamed`` (an upload of a file, to be spooled to disk rather than held)
    has its own limit and its body is not held here: it is counted as the route reads it,
    and reading past the limit raises :class:`BodyTooLarge` in the route.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, streamed: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streamed = dict(streamed or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.streamed.get(scope["path"].rstrip("/"), self.max_bytes)
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._refuse(scope, receive, send, limit)
                return
        if scope["path"].rstrip("/") in self.streamed:
            await self.app(scope, _counted(receive, limit), send)
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
                await self._refuse(scope, receive, send, self.max_bytes)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        refusal = problem(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"request body larger than {limit} bytes",
            instance=scope["path"],
        )
        await refusal(scope, receive, send)


def _counted(receive: Receive, limit: int) -> Receive:
    received = 0

    async def counting() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
        return message

    return counting
