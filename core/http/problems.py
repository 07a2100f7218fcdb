"""Error answers: RFC 9457 problem details, one shape for the whole HTTP surface.

Whatever refuses a request (a route, request validation, an access check, the body-size
limit, a webhook's channel, a route that does not exist) answers ``application/problem+json``
with ``type``, ``title`` (the status's phrase), ``status``, ``detail`` (one sentence saying
why) and ``instance`` (the path asked for). A validation problem adds ``errors``, one entry
per value at fault. Routes list the statuses they answer with :func:`problems`, so the
OpenAPI document says what clients get.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from regiocrm.crm.access import Forbidden
from regiocrm.http.headers import DEFAULT_HEADERS
from regiocrm.residency.rules import ApartError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
# Seconds a client is asked to wait before trying a write again on a busy database.
RETRY_AFTER_UNAVAILABLE = 5
SCHEMAS = "#/components/schemas/"


class InputError(BaseModel):
    """One value a request got wrong."""

    loc: list[str | int] = Field(
        description="where: `body`, `query`, `path` or `header`, then the field's path"
    )
    msg: str = Field(description="what is wrong with it")
    type: str = Field(description="the kind of error, e.g. `missing`, `string_pattern_mismatch`")


class Problem(BaseModel):
    """A refusal, as RFC 9457 writes one. Other members may follow (an export's
    ``missing``, say), as the RFC allows."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="`about:blank`: the status says it")
    title: str = Field(description="the HTTP status's phrase", examples=["Not Found"])
    status: int = Field(description="the HTTP status code", examples=[404])
    detail: str = Field(description="why, in one sentence")
    instance: str = Field(description="the path that was asked for")
    errors: list[InputError] | None = Field(
        default=None, description="for 422: each value at fault"
    )


class ProblemException(HTTPException):
    """An HTTP refusal whose problem document carries more members than ``detail``."""

    def __init__(self, status_code: int, detail: str, **members: Any) -> None:
        super().__init__(status_code, detail)
        self.members = members


def _title(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


def problem(
    code: int,
    detail: str,
    *,
    instance: str,
    headers: Mapping[str, str] | None = None,
    errors: list[InputError] | None = None,
    **members: Any,
) -> Response:
    """The problem-details answer; a Starlette response is an ASGI app, so middleware can
    send it as well as handlers can return it."""
    document = Problem(
        title=_title(code), status=code, detail=detail, instance=instance, errors=errors, **members
    )
    return Response(
        document.model_dump_json(exclude_none=True),
        code,
        headers=headers,
        media_type=PROBLEM_JSON,
    )


class AnswerInstead(Exception):
    """Raised where a request is answered with a ready response rather than a problem
    document: a console page that sends a browser to sign in, or shows its own error page."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def _answer_instead(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AnswerInstead)
    return exc.response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    # As Starlette's own handler does: these statuses carry no body.
    if exc.status_code in {status.HTTP_204_NO_CONTENT, status.HTTP_304_NOT_MODIFIED}:
        return Response(status_code=exc.status_code, headers=exc.headers)
    members = exc.members if isinstance(exc, ProblemException) else {}
    return problem(
        exc.status_code,
        str(exc.detail),
        instance=request.url.path,
        headers=exc.headers,
        **members,
    )


def _message(error: Mapping[str, Any]) -> str:
    """pydantic's message, with the parser's reason where FastAPI keeps it apart."""
    reason = (error.get("ctx") or {}).get("error")
    if error["type"] == "json_invalid" and reason:
        return f"{error['msg']}: {reason}"
    return str(error["msg"])


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        InputError(loc=list(error["loc"]), msg=_message(error), type=error["type"])
        for error in exc.errors()
    ]
    detail = "; ".join(f"{'.'.join(map(str, error.loc))}: {error.msg}" for error in errors)
    return problem(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail or "the input is invalid",
        instance=request.url.path,
        errors=errors,
    )


async def _forbidden(request: Request, exc: Exception) -> Response:
    return problem(status.HTTP_403_FORBIDDEN, str(exc), instance=request.url.path)


async def _apart(request: Request, exc: Exception) -> Response:
    """The deployment's residency keeps apart what the query relates: its configuration
    must change, not the request."""
    return problem(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), instance=request.url.path)


async def _unavailable(request: Request, exc: Exception) -> Response:
    """The database is unreachable or busy (a dropped connection, SQLite's lock held too
    long, a serialization failure, every pooled connection taken for the pool's timeout):
    the transaction was rolled back, or never began, and the same request may succeed
    later. The driver's message names hosts and databases: it goes to the log only."""
    reason = exc.orig if isinstance(exc, OperationalError | InterfaceError) else exc
    log.error("%s %s answered 503: %s", request.method, request.url.path, reason)
    return problem(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "the database is unavailable or busy: try again later",
        instance=request.url.path,
        headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    """A bug: the client learns nothing of it but that it is one (the log has the rest).
    Starlette answers it outside every middleware, so it carries the security headers
    itself."""
    return problem(
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        "the server failed to answer; the error is in its log",
        instance=request.url.path,
        headers=DEFAULT_HEADERS,
    )


def install(app: FastAPI) -> None:
    """Answer every refusal ``app`` makes as a problem document."""
    app.add_exception_handler(AnswerInstead, _answer_instead)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(ApartError, _apart)
    for unavailable in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(unavailable, _unavailable)
    app.add_exception_handler(Exception, _unexpected)


def with_problem_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI ``document`` with :class:`Problem` among its schemas, which the
    responses from :func:`problems` refer to.

    Every operation can answer 422 (nothing takes NaN or NUL), so each lists it as a
    problem, a plugin's route that lists nothing included, in place of FastAPI's own
    validation error, which no answer has.
    """
    schema = Problem.model_json_schema(ref_template=SCHEMAS + "{model}")
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(schema.pop("$defs", {}))
    schemas[Problem.__name__] = schema
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation["responses"]["422"] = ANSWERS[status.HTTP_422_UNPROCESSABLE_CONTENT]
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def problem_response(description: str, *, headers: Mapping[str, str] | None = None) -> Any:
    """One documented error answer: a problem document, and the headers (name: what it
    says) that it always carries."""
    documented: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": SCHEMAS + Problem.__name__}}},
    }
    if headers:
        documented["headers"] = {
            name: {"description": said, "required": True, "schema": {"type": "string"}}
            for name, said in headers.items()
        }
    return documented


ANSWERS: dict[int, Any] = {
    400: problem_response(
        "The request cannot be done as it is (the body is not JSON this API reads, or a"
        " value does not fit the resource's state): `detail` says why."
    ),
    401: problem_response(
        "No valid bearer token.",
        headers={"WWW-Authenticate": "`Bearer`: send an API token from `regiocrm users add`"},
    ),
    403: problem_response("The caller's role, or the rules, do not allow it."),
    404: problem_response("No such resource, or none the caller may see."),
    409: problem_response("It conflicts with what is stored."),
    413: problem_response("The body is larger than the deployment's `[http] max_body_bytes`."),
    422: problem_response(
        "The input is invalid (NaN, Infinity or a NUL character anywhere in it included):"
        " `errors` names each value at fault."
    ),
    502: problem_response("The provider refused the message or kept failing."),
    503: problem_response(
        "A database cannot be reached, or the deployment's residency keeps apart what the"
        " request relates."
    ),
}


def problems(*codes: int) -> dict[int | str, Any]:
    """The ``responses=`` of a route that answers these error statuses."""
    return {code: ANSWERS[code] for code in codes}
