"""What the PostgreSQL tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import URL

from regiocrm.testing import scratch_database


@pytest.fixture
def second_postgres_url(postgres_url: URL) -> Iterator[URL]:
    """Another scratch database beside ``postgres_url`` (skipped or failed as it is)."""
    with scratch_database() as url:
        yield url
