"""Identifiers for every row: time-ordered UUIDs (RFC 9562 version 7).

They are made by the application, never by a database, so that a row keeps its id when
residency moves it from one zone to another, and they sort by creation time so that
B-tree inserts stay at the right edge of the index.
"""

import uuid

import uuid6


def new_id() -> uuid.UUID:
    """A new UUIDv7, monotonic within this process."""
    return uuid.UUID(bytes=uuid6.uuid7().bytes)
