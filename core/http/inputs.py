"""What no route takes: numbers JSON has no place for, and NUL characters.

Python's JSON parser reads ``NaN`` and ``Infinity``, which RFC 8259 does not allow, and
reads ``1e999`` as infinity; no column keeps them and no JSON answer can carry them back.
PostgreSQL cannot store a NUL in text at all, so a NUL accepted on SQLite would make the
same deployment fail on PostgreSQL. Both are refused with 422, naming where they are,
before any route sees the request: in the path, in the query string, and in a JSON body
the route reads (a webhook reads its provider's raw body itself, and decides there).

A moment is stored in UTC, so one that UTC cannot write (``0001-01-01T00:00+14:00`` is
in the year 0 there) is refused where routes declare it, as a :data:`Moment`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import AfterValidator, AwareDatetime

NUL = "\x00"
NUL_MESSAGE = "a NUL character is not allowed"
NOT_FINITE_MESSAGE = "Input should be a finite number (JSON has no NaN or Infinity)"

Location = tuple[str | int, ...]


def in_utc(moment: datetime) -> datetime:
    """``moment`` as given, once it is known to have a UTC equivalent.

    :raises ValueError: for a moment before 0001-01-01 or after 9999-12-31 in UTC.
    """
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is outside the years 1 to 9999 in UTC") from None
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(in_utc)]


def _error(loc: Location, kind: str, message: str) -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": message, "input": None}


def _in_parameters(request: Request) -> Iterator[dict[str, Any]]:
    for name, value in request.path_params.items():
        if NUL in str(value):
            yield _error(("path", name), "nul_character", NUL_MESSAGE)
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            yield _error(("query", name), "nul_character", NUL_MESSAGE)


def _in_document(document: Any) -> Iterator[dict[str, Any]]:
    """Each non-finite number and each string holding a NUL (object keys included), in
    document order; walked with a queue, as a body may nest as deep as the parser went."""
    pending: deque[tuple[Location, Any]] = deque([(("body",), document)])
    while pending:
        loc, value = pending.popleft()
        if isinstance(value, float) and not math.isfinite(value):
            yield _error(loc, "finite_number", NOT_FINITE_MESSAGE)
        elif isinstance(value, str) and NUL in value:
            yield _error(loc, "nul_character", NUL_MESSAGE)
        elif isinstance(value, dict):
            for key, item in value.items():
                if NUL in key:
                    yield _error((*loc, key), "nul_character", NUL_MESSAGE + " in a name")
                pending.append(((*loc, key), item))
        elif isinstance(value, list):
            pending.extend(((*loc, index), item) for index, item in enumerate(value))


def unstorable_in(document: Any) -> str | None:
    """Why a JSON document a route reads itself (a line of NDJSON) cannot be stored: its
    first non-finite number or NUL, with where it is; ``None`` when there is none."""
    for error in _in_document(document):
        where = ".".join(str(part) for part in error["loc"][1:])
        return f"{where}: {error['msg']}" if where else error["msg"]
    return None


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _in_body(request: Request) -> list[dict[str, Any]]:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return []
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        # A console form, which FastAPI has parsed, and Starlette keeps what it parsed.
        form = await request.form()
        return list(
            _in_document({key: value for key, value in form.items() if isinstance(value, str)})
        )
    try:
        # FastAPI has parsed a JSON body already, and Starlette keeps what it parsed.
        document = await request.json()
    except (ValueError, RecursionError):
        return []  # not JSON at all: the route's own validation refuses it
    return list(_in_document(document))


async def refuse_unstorable(request: Request) -> None:
    """A dependency of every route: 422 for NaN, Infinity or NUL anywhere in the input.

    :raises RequestValidationError: naming each place.
    """
    errors = [*_in_parameters(request), *await _in_body(request)]
    if errors:
        raise RequestValidationError(errors)
