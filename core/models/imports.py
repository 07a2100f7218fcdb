"""Bulk imports of dealers' files: the job that makes a rerun resume, and the rows it
could not take."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.models.base import Model


class ImportJob(Model):
    """One file imported into one market for one organization.

    A file is known by its SHA-256: the same file imported again (after a kill, or by
    mistake) finds its job and goes on after ``last_line``, the last row whose writes are
    committed with it. ``counts`` are the report's figures so far (created,
    matched, merged, conflicts, rejected), committed with them.
    """

    __data_class__ = DataClass.CRM
    __organization_column__ = "organization_id"
    __table_args__ = (UniqueConstraint("file_sha256", "market", "organization_id", "kind"),)

    kind: Mapped[str] = mapped_column(String(20), doc="customers, vehicles or contracts")
    organization_id: Mapped[uuid.UUID] = mapped_column(index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(doc="the user, or none for the operator")
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(255))
    encoding: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), doc="queued, running, done or failed")
    header: Mapped[list[str]] = mapped_column(default=list, doc="the file's header row")
    last_line: Mapped[int] = mapped_column(default=0)
    rows: Mapped[int] = mapped_column(default=0, doc="data rows read so far")
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    warnings: Mapped[list[str]] = mapped_column(default=list)
    error: Mapped[str | None] = mapped_column(String(1000))


class ImportIssue(Model):
    """A row of an import's file that was rejected (bad data) or is a conflict (it would
    join two customers, or its names contradict the record it matches), with the row's
    values as the file had them, so a rejects file can be written to fix and import again.
    The values are personal data: placed as identity data of the import's market."""

    __data_class__ = DataClass.IDENTITY
    __table_args__ = (Index(None, "job_id", "line", unique=True),)

    job_id: Mapped[uuid.UUID]
    line: Mapped[int] = mapped_column(doc="the row's number in the sheet, the header being 1")
    outcome: Mapped[str] = mapped_column(String(20), doc="rejected or conflict")
    reason: Mapped[str] = mapped_column(String(1000))
    cells: Mapped[list[str]] = mapped_column(doc="the row's cells, as read")
