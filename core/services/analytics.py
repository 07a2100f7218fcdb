"""The analytics export for front ends: the deployment's data as Parquet, pseudonymised
unless the residency rules let personal data leave (:mod:`regiocrm.residency.analytics`
makes it, in one transaction of its own)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from regiocrm.residency.analytics import AnalyticsExport, Progress, export_analytics
from regiocrm.services.application import Application


class AnalyticsService:
    """Analytics exports of the whole deployment, each audited in every market's trail
    before its files take their names."""

    def __init__(self, app: Application) -> None:
        self.app = app

    def export_as_operator(
        self,
        destination: Path,
        *,
        since: date | None = None,
        with_personal_data: bool = False,
        progress: Progress | None = None,
    ) -> AnalyticsExport:
        """Export every zone's registered entities into ``destination`` as the deployment's
        operator (the CLI, audited as the system with the operating system's user named).

        :raises regiocrm.residency.analytics.AnalyticsError: for a destination that cannot
            take the export, or no ``[analytics] pseudonym_key`` for a pseudonymised one.
        :raises regiocrm.residency.analytics.AnalyticsRefused: when the rules do not let
            the personal data leave; the refusal is audited.
        """
        return export_analytics(
            self.app.stores,
            self.app.hooks,
            destination,
            key=self.app.settings.analytics.pseudonym_key,
            since=since,
            with_personal_data=with_personal_data,
            progress=progress,
        )
