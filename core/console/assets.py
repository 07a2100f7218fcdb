"""The console's static files, served from the installed package under ``/static/``: the
vendored htmx (2.0.11, from npm's ``htmx.org``) and its licence, the style sheet and the
console's own script.

Only the files named in :data:`ASSETS` are served, so a path can never reach beyond them.
Pages link them with the regiocrm version in the query (``?v=``), which lets browsers keep
them for a day without missing an upgrade.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import Response

from regiocrm.hookspecs import hookimpl
from regiocrm.http.problems import AnswerInstead

ASSETS = {
    "htmx.min.js": "text/javascript; charset=utf-8",
    "htmx.LICENSE.txt": "text/plain; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}

router = APIRouter(include_in_schema=False)


@cache
def _read(name: str) -> bytes:
    return (files("regiocrm.console") / "static" / name).read_bytes()


@router.get("/static/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        raise AnswerInstead(Response("not found", 404, media_type="text/plain"))
    return Response(
        _read(name),
        media_type=ASSETS[name],
        headers={"Cache-Control": "public, max-age=86400"},
    )


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
