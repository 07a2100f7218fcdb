"""Bulk imports for front ends: ``regiocrm import`` runs one in the foreground as the
deployment's operator; ``POST /api/imports`` stores the upload, answers with the job, and
runs it in the background for the caller's organization. Both go through
:class:`~regiocrm.crm.imports.Importer`, so a file imports the same whichever way it came.

A caller reads only the imports of their own organization (the competence centre and
administrators read every one); another's is answered as unknown.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, BinaryIO

from regiocrm.crm import audit
from regiocrm.crm.access import Forbidden
from regiocrm.crm.accounts import UnknownOrganization, organization_named
from regiocrm.crm.imports import (
    Importer,
    ImportReport,
    ImportRequest,
    Progress,
    UnknownImport,
    write_rejects,
)
from regiocrm.interfaces.terms import UserRole
from regiocrm.platform.i18n import _
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller

# Who may import into their organization: the staff who enter customers, and those above.
IMPORTERS = (
    UserRole.ADMIN,
    UserRole.COMPETENCE_CENTRE,
    UserRole.WHOLESALER_STAFF,
    UserRole.DEALER_STAFF,
)
UPLOADS = "imports"


@dataclass(frozen=True)
class Upload:
    """An uploaded file, read from ``stream`` into the deployment's data folder."""

    stream: BinaryIO
    file_name: str


class ImportService:
    """Imports of customers, vehicles and contracts."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self.importer = Importer(app.stores, app.hooks)

    def run_as_operator(
        self,
        organization: str,
        request: Callable[[uuid.UUID], ImportRequest],
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Import a file for the organization named, as the deployment's operator (the
        CLI, audited as the system), in this thread; a file imported before answers its
        earlier report, and one cut short goes on from its checkpoint.

        :param request: the import, given the organization's id.
        :raises UnknownOrganization: for no organization of that name.
        :raises regiocrm.crm.import_files.UnreadableFile: for a file that cannot be read.
        :raises regiocrm.crm.import_files.MappingError: for a required field no column holds.
        :raises regiocrm.interfaces.packs.PackError: for a market no pack serves.
        :raises regiocrm.crm.imports.ImportFailed: when a database fails mid-way.
        """
        with self.app.transaction() as session:
            found = organization_named(session, organization)
            if found is None:
                raise UnknownOrganization(
                    _("no organization named {name!r}").format(name=organization)
                )
            organization_id = found.id
        wanted = request(organization_id)
        if dry_run:
            return self.importer.dry_run(wanted, progress)
        opened = self.importer.open_job(wanted)
        if opened.done:
            report = self.importer.report(opened.id)
            report.resumed_after = report.rows
            return report
        return self.importer.run(wanted, opened.id, progress)

    def start(
        self,
        caller: Caller,
        upload: Upload,
        *,
        kind: str,
        market: str,
        mapping: Mapping[str, str],
        encoding: str | None,
    ) -> ImportReport:
        """Store an upload and import it in the background for the caller's organization;
        the job as it stands (``queued``, or ``done`` for a file imported before).

        :raises Forbidden: for a role that imports nothing, or a market outside the scope.
        :raises: as :meth:`run_as_operator` for the file, before anything is written.
        """
        caller.scope.require(*IMPORTERS)
        organization_id = caller.organization
        if caller.scope.markets is not None and market not in caller.scope.markets:
            raise Forbidden(_("you do not import into market {market}").format(market=market))
        folder = self.app.settings.data_dir / UPLOADS
        folder.mkdir(parents=True, exist_ok=True)
        # Only a plain suffix of the caller's file name reaches the disk (.csv, .xlsx).
        suffix = Path(upload.file_name).suffix
        suffix = suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,5}", suffix) else ""
        staged = folder / f"upload-{uuid.uuid4().hex}{suffix}"
        with staged.open("wb") as target:
            shutil.copyfileobj(upload.stream, target)
        request = ImportRequest(
            kind=kind,
            path=staged,
            market=market,
            organization_id=organization_id,
            file_name=Path(upload.file_name).name,
            actor_id=caller.user_id,
            mapping=dict(mapping),
            encoding=encoding,
        )
        try:
            opened = self.importer.open_job(request)
        except Exception:
            staged.unlink(missing_ok=True)
            raise
        # One file per job: a second upload of it resumes the first's file.
        kept = folder / f"{opened.id}{staged.suffix}"
        staged.replace(kept)
        if not opened.done:
            moved = replace(request, path=kept)
            self.app.background.submit(opened.id, lambda: self._finish(moved, opened.id))
        return self.importer.report(opened.id)

    def _finish(self, request: ImportRequest, job_id: uuid.UUID) -> None:
        """Run the import; its file is kept until it is done, for a re-upload to resume."""
        self.importer.run(request, job_id, stop=self.app.background.stopping.is_set)
        if self.importer.job(job_id).status == "done":
            request.path.unlink(missing_ok=True)

    def wait(self, job_id: uuid.UUID, timeout: float | None = None) -> bool:
        """Wait for a background import to end; whether it has."""
        return self.app.background.wait(job_id, timeout)

    def get(self, caller: Caller, job_id: uuid.UUID) -> ImportReport:
        """Where an import of the caller's organization stands, with its report.

        :raises UnknownImport: for no such import, and alike for another organization's.
        """
        self._visible(caller, job_id)
        return self.importer.report(job_id)

    def rejects(self, caller: Caller, job_id: uuid.UUID, stream: IO[str]) -> int:
        """Write the import's rejected rows as CSV to ``stream``; how many.

        :raises UnknownImport: as :meth:`get`.
        """
        self._visible(caller, job_id)
        report = self.importer.report(job_id)
        with self.app.transaction() as session:
            # The rows are customers' personal data as the file had it: read on record.
            audit.record(
                session,
                actor_id=caller.user_id,
                action="import.rejects_read",
                subject_type="import",
                subject=self.importer.job(job_id),
                detail={"rows": len(report.rejected)},
            )
        return write_rejects(stream, report.header, report.issues)

    def _visible(self, caller: Caller, job_id: uuid.UUID) -> None:
        caller.scope.require(*IMPORTERS)
        job = self.importer.job(job_id)
        if caller.scope.everything or caller.role is UserRole.COMPETENCE_CENTRE:
            return
        if job.organization_id != caller.organization_id:
            raise UnknownImport(f"no import {job_id}")
