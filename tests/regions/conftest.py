"""Helpers shared by the per-pack tests: every expectation there is the market's own
convention, written out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from regiocrm.interfaces.calendars import Service
from regiocrm.platform.hooks import Hooks


@pytest.fixture
def due(regiocrm_hooks: Hooks):
    """``due(market, "2026-09-30 17:00", +8, hours=2)`` → the due time in UTC."""

    def compute(
        market: str,
        local: str,
        utc_offset: float,
        *,
        hours: float,
        service: Service = Service.OFFICE,
    ) -> datetime:
        start = datetime.fromisoformat(local).replace(tzinfo=timezone(timedelta(hours=utc_offset)))
        return regiocrm_hooks.due_at(
            market=market, start=start, duration=timedelta(hours=hours), service=service
        )

    return compute


@pytest.fixture
def utc():
    """``utc("2026-10-08 02:00")`` → that moment as an aware UTC datetime."""

    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    return parse
