"""Identifiers for every row: time-ordered UUIDs (RFC 9562 version 7).

They are made by the application, never by a database, so that a row keeps its id when
residency moves it from one zone to another, and they sort by creation time so that
B-tree inserts stay at the right edge of the index.
"""

import hashlib
import os
import uuid

import uuid6

# UUIDv7's last 62 bits are random; the version and variant bits above them stay.
_RANDOM_B = (1 << 62) - 1
# Within a millisecond a UUIDv7 varies in rand_a (12 bits) and rand_b (62 bits), between
# which sit the variant; the version sits above rand_a.
_RANDOM_74 = (1 << 74) - 1
_VERSION_7 = 0x7 << 76 | 0b10 << 62


def new_id() -> uuid.UUID:
    """A new UUIDv7, monotonic within this process."""
    return uuid.UUID(bytes=uuid6.uuid7().bytes)


def new_ids(count: int) -> list[uuid.UUID]:
    """``count`` new UUIDv7s in ascending order, for bulk writes.

    ``uuid6.uuid7`` gives each call a millisecond of its own (it moves its clock on by one
    when called faster), which costs about 18 µs an id and, for a million rows, would date
    the last ids minutes ahead. Here one call reserves one millisecond and the batch takes
    distinct sorted values of its 74 random bits: unique, and monotonic with every
    :func:`new_id` of the process, which can no longer be given that millisecond.
    """
    if count <= 0:
        return []
    millisecond = uuid6.uuid7().int >> 80 << 80
    randomness = os.urandom(10 * count)
    values = {int.from_bytes(randomness[i : i + 10]) & _RANDOM_74 for i in range(0, 10 * count, 10)}
    while len(values) < count:  # two equal draws of 74 bits: practically never
        values.add(int.from_bytes(os.urandom(10)) & _RANDOM_74)
    return [
        uuid.UUID(int=millisecond | _VERSION_7 | (value >> 62) << 64 | value & _RANDOM_B)
        for value in sorted(values)
    ]


def derived_id(source: uuid.UUID, purpose: str) -> uuid.UUID:
    """The id of the row ``source`` gives rise to for ``purpose``: always the same one, so
    that a step retried after a crash finds the row it wrote instead of writing another.

    It is ``source`` with its random bits scrambled by ``purpose``: still a UUIDv7 of the
    same moment, distinct from ``source`` and from what other purposes derive.
    """
    mask = int.from_bytes(hashlib.sha256(purpose.encode()).digest()[:8]) & _RANDOM_B
    return uuid.UUID(int=source.int ^ mask)
