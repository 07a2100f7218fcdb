"""Token buckets, on a clock the test moves."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from regiocrm.platform.ratelimit import RateLimiter


@dataclass
class Clock:
    now: float = 0.0
    waits: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def test_a_burst_of_one_seconds_worth_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter({"line": 2}, clock=lambda: clock.now, sleep=clock.sleep)
    for _ in range(6):
        limiter.acquire("line")
    assert clock.waits == [pytest.approx(0.5)] * 4
    assert clock.now == pytest.approx(2.0)


def test_time_passing_refills_the_bucket_up_to_its_size() -> None:
    clock = Clock()
    limiter = RateLimiter({"sms": 10}, clock=lambda: clock.now, sleep=clock.sleep)
    for _ in range(10):
        limiter.acquire("sms")
    clock.now += 60
    for _ in range(10):
        limiter.acquire("sms")
    assert clock.waits == []
    limiter.acquire("sms")
    assert clock.waits == [pytest.approx(0.1)]


def test_each_channel_has_its_own_bucket_and_unknown_ones_none() -> None:
    clock = Clock()
    limiter = RateLimiter({"line": 1, "whatsapp": 1}, clock=lambda: clock.now, sleep=clock.sleep)
    limiter.acquire("line")
    limiter.acquire("whatsapp")
    for _ in range(100):
        limiter.acquire("carrier pigeon")
    assert clock.waits == []
    limiter.acquire("line")
    assert clock.waits == [pytest.approx(1.0)]
