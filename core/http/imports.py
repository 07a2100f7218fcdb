"""``/api/imports``: dealers' files uploaded, imported in the background, followed."""

from __future__ import annotations

import io
import re
import tomllib
import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from regiocrm.crm.import_files import KINDS, MappingError, UnreadableFile, parse_mapping
from regiocrm.crm.imports import UnknownImport
from regiocrm.hookspecs import hookimpl
from regiocrm.http.deps import AppDep, CallerDep
from regiocrm.http.limits import BodyTooLarge
from regiocrm.http.problems import problems
from regiocrm.interfaces.packs import PackError
from regiocrm.services.imports import ImportService, Upload

UPLOADS_PATH = "/api/imports"
router = APIRouter(prefix=UPLOADS_PATH, tags=["imports"])

UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "kind", "market"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "the CSV (UTF-8, GB18030, Shift_JIS, CP949…) or"
                            " XLSX file; its first row names the columns",
                        },
                        "kind": {"type": "string", "enum": list(KINDS)},
                        "market": {"type": "string", "pattern": "^[A-Z]{2}$"},
                        "encoding": {
                            "type": "string",
                            "description": "the CSV's encoding; default: found",
                        },
                        "mapping": {
                            "type": "string",
                            "description": "a TOML mapping: a [columns] table of header ="
                            ' field ("" leaves a column out)',
                        },
                    },
                }
            }
        },
    }
}


def _bad(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, detail=detail)


def _text(form: Any, name: str, *, required: bool) -> str | None:
    value = form.get(name)
    if value is None or value == "":
        if required:
            raise _bad(f"the form field {name!r} is required")
        return None
    if not isinstance(value, str):
        raise _bad(f"the form field {name!r} is text, not a file")
    if "\x00" in value:
        raise _bad(f"the form field {name!r} holds a NUL character")
    return value


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(400, 401, 403, 413, 422, 503),
    openapi_extra=UPLOAD_FORM,
)
async def start_import(request: Request, caller: CallerDep, app: AppDep) -> Response:
    """Upload a file of customers, vehicles or contracts for the caller's organization:
    202 with the import's id once its job is committed; the import runs in the
    background (``GET /api/imports/{id}`` follows it). A file that cannot be read, or
    whose columns do not hold what the kind requires, is 400 with the reason, and nothing
    is written. The same file uploaded again goes on where the first stopped."""
    try:
        form = await request.form(max_files=1, max_fields=10)
    except BodyTooLarge as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=str(exc)) from None
    except MultiPartException as exc:
        raise _bad(f"not a multipart form: {exc.message}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise _bad("the form field 'file' must hold the file")
        kind = _text(form, "kind", required=True)
        if kind not in KINDS:
            raise _bad(f"kind {kind!r} is none of {', '.join(KINDS)}")
        market = _text(form, "market", required=True) or ""
        if not re.fullmatch(r"[A-Z]{2}", market):
            raise _bad(f"market {market!r} is not an ISO 3166 code such as CN")
        encoding = _text(form, "encoding", required=False)
        mapping_text = _text(form, "mapping", required=False)
        try:
            mapping = (
                parse_mapping(tomllib.loads(mapping_text), "mapping")
                if mapping_text is not None
                else {}
            )
        except tomllib.TOMLDecodeError as exc:
            raise _bad(f"mapping is not TOML: {exc}") from None
        try:
            report = await run_in_threadpool(
                ImportService(app).start,
                caller,
                Upload(upload.file, upload.filename or "upload.csv"),
                kind=kind,
                market=market,
                mapping=mapping,
                encoding=encoding,
            )
        except (UnreadableFile, MappingError) as exc:
            raise _bad(str(exc)) from None
        except PackError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    finally:
        await form.close()
    return JSONResponse(
        report.as_dict(),
        status_code=status.HTTP_202_ACCEPTED,
        headers={"Location": f"{UPLOADS_PATH}/{report.id}"},
    )


@router.get("/{import_id}", responses=problems(401, 403, 404, 422, 503))
def get_import(import_id: uuid.UUID, caller: CallerDep, app: AppDep) -> dict[str, Any]:
    """Where an import of the caller's organization stands (queued, running, done,
    interrupted, failed), its counts so far and every row not imported with its line and
    reason. Another organization's import is 404."""
    try:
        return ImportService(app).get(caller, import_id).as_dict()
    except UnknownImport as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None


@router.get(
    "/{import_id}/rejects",
    responses={
        **problems(401, 403, 404, 422, 503),
        200: {"content": {"text/csv": {}}, "description": "the rejected rows"},
    },
    response_class=Response,
)
def get_rejects(import_id: uuid.UUID, caller: CallerDep, app: AppDep) -> Response:
    """The import's rejected rows as CSV (UTF-8 with BOM, as Excel opens it): the file's
    columns and a reason, to fix and upload again."""
    stream = io.StringIO()
    try:
        ImportService(app).rejects(caller, import_id, stream)
    except UnknownImport as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    return Response(
        ("\ufeff" + stream.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{import_id}.rejects.csv"'},
    )


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
