"""Identifiers for every row: time-ordered UUIDs (RFC 9562 version 7).

They are made by the application, never by a database, so that a row keeps its id when
residency moves it from one zone to another, and they sort by creation time so that
B-tree inserts stay at the right edge of the index.
"""

import hashlib
import uuid

import uuid6

# UUIDv7's last 62 bits are random; the version and variant bits above them stay.
_RANDOM_B = (1 << 62) - 1


def new_id() -> uuid.UUID:
    """A new UUIDv7, monotonic within this process."""
    return uuid.UUID(bytes=uuid6.uuid7().bytes)


def derived_id(source: uuid.UUID, purpose: str) -> uuid.UUID:
    """The id of the row ``source`` gives rise to for ``purpose``: always the same one, so
    that a step retried after a crash finds the row it wrote instead of writing another.

    It is ``source`` with its random bits scrambled by ``purpose``: still a UUIDv7 of the
    same moment, distinct from ``source`` and from what other purposes derive.
    """
    mask = int.from_bytes(hashlib.sha256(purpose.encode()).digest()[:8]) & _RANDOM_B
    return uuid.UUID(int=source.int ^ mask)
