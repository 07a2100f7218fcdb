"""Token buckets: sending no faster than each provider allows."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    rate: float
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """At most ``rates[key]`` acquisitions per second for each key, with bursts of up to one
    second's worth; a key without a rate is not limited.

    :param clock: monotonic seconds; :param sleep: waits that many seconds (both for tests).
    """

    rates: Mapping[str, float]
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def acquire(self, key: str) -> None:
        """Take one token for ``key``, waiting until there is one."""
        rate = self.rates.get(key)
        if rate is None:
            return
        now = self.clock()
        bucket = self._buckets.setdefault(key, _Bucket(rate, rate, now))
        bucket.tokens = min(bucket.rate, bucket.tokens + (now - bucket.updated) * bucket.rate)
        bucket.updated = now
        if bucket.tokens < 1:
            wait = (1 - bucket.tokens) / bucket.rate
            self.sleep(wait)
            bucket.tokens += wait * bucket.rate
            bucket.updated = now + wait
        bucket.tokens -= 1
