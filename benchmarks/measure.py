"""What every benchmark here shares: timing one path and printing its rate on one line."""

from __future__ import annotations

import time
from collections.abc import Callable


def timed(label: str, count: int, unit: str, work: Callable[[], object]) -> float:
    """Run ``work`` (which handles ``count`` units) once; print and return units per second."""
    began = time.perf_counter()
    work()
    seconds = time.perf_counter() - began
    rate = count / seconds
    print(f"{label:<40} {count:>7} {unit:<5} {seconds:7.2f} s {rate:12,.0f} {unit}/s")
    return rate
