"""Security headers on every answer: what a browser may do with what the service sends.

The service answers JSON, XML and plain text to API clients and providers; no browser should
render those as a page, sniff them into HTML (a webhook handshake echoes what it is sent),
frame them, send them elsewhere as a referrer or keep them in a cache (they carry personal
data): :data:`DEFAULT_HEADERS` say so on every answer.

A page a browser renders needs more, and gets its own headers by path in ``pages``:
FastAPI's ``/docs`` (Swagger UI) and ``/redoc`` load their scripts and styles from a CDN and
start them with inline code, and :data:`API_DOCS_PAGES` allows exactly that there. An answer
that sets one of these headers itself keeps its own, so a page can carry its own policy.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Headers = Mapping[str, str]

# What a page may not do, whatever else its policy allows.
NO_EMBEDDING = "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

DEFAULT_HEADERS: Headers = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": f"default-src 'none'; {NO_EMBEDDING}",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}

SWAGGER_UI = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/"
REDOC = "https://cdn.jsdelivr.net/npm/redoc@2/"
FASTAPI_FAVICON = "https://fastapi.tiangolo.com/img/favicon.png"

API_DOCS_PAGES: Mapping[str, Headers] = {
    "/docs": {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'unsafe-inline' {SWAGGER_UI};"
            f" style-src 'unsafe-inline' {SWAGGER_UI}; img-src 'self' data: {FASTAPI_FAVICON};"
            f" connect-src 'self'; {NO_EMBEDDING}"
        ),
    },
    "/redoc": {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src {REDOC}; worker-src blob:;"
            " style-src 'unsafe-inline' https://fonts.googleapis.com;"
            f" font-src https://fonts.gstatic.com; img-src 'self' data: {FASTAPI_FAVICON};"
            f" connect-src 'self'; {NO_EMBEDDING}"
        ),
    },
}


class SecurityHeaders:
    """Add ``defaults``, or the headers of the page in ``pages`` whose path (or a path
    under it) is asked for, to every HTTP answer that does not set them itself."""

    def __init__(
        self,
        app: ASGIApp,
        defaults: Headers = DEFAULT_HEADERS,
        pages: Mapping[str, Headers] = API_DOCS_PAGES,
    ) -> None:
        self.app = app
        self.defaults = defaults
        self.pages = {path: {**defaults, **headers} for path, headers in pages.items()}

    def headers_for(self, path: str) -> Headers:
        for page, headers in self.pages.items():
            if path == page or path.startswith(f"{page}/"):
                return headers
        return self.defaults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = self.headers_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                for name, value in added.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
