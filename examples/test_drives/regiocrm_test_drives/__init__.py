"""regiocrm-test-drives: test drives a customer books at a dealer, an entity of its own.

Found through its entry point in the ``regiocrm`` group, it contributes the ``TestDrive``
model (CRM data), the alembic branch that creates its table, the ``/api/test-drives``
routes and the ``test_drive_booked`` event. Residency places its rows with the market's
CRM data, and the residency report, ``residency migrate``, the storage report and the
customer export take them in: none of them names the plugin.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pluggy
from fastapi import APIRouter

from regiocrm import Model, hookimpl
from regiocrm_test_drives import events
from regiocrm_test_drives.models import TestDrive
from regiocrm_test_drives.routes import router


@hookimpl
def add_hookspecs(pm: pluggy.PluginManager) -> None:
    pm.add_hookspecs(events)


@hookimpl
def register_models() -> list[type[Model]]:
    return [TestDrive]


@hookimpl
def register_migrations() -> list[Path]:
    return [Path(str(files(__package__) / "migrations"))]


@hookimpl
def register_routes() -> list[APIRouter]:
    return [router]
