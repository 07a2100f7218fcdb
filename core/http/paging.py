"""Cursors for paging through listings: opaque to clients, checked when they come back."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import HTTPException, Query, status

NOT_A_CURSOR = "not a cursor this API gave"
PAGE_DEFAULT = 50
PAGE_MAX = 200

Limit = Annotated[int, Query(ge=1, le=PAGE_MAX, description="at most this many items")]


def decode(value: str | None) -> str | None:
    """The position a cursor holds; 400 for anything this API did not give."""
    if value is None:
        return None
    try:
        return base64.urlsafe_b64decode(value.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, NOT_A_CURSOR) from None


def encode(position: str | None) -> str | None:
    return None if position is None else base64.urlsafe_b64encode(position.encode()).decode()


def decode_moment(value: str | None) -> tuple[datetime, uuid.UUID] | None:
    """The (time, id) position of a listing ordered by both; 400 for a foreign cursor."""
    position = decode(value)
    if position is None:
        return None
    moment, _, row_id = position.partition("|")
    try:
        at, after = datetime.fromisoformat(moment), uuid.UUID(row_id)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, NOT_A_CURSOR) from None
    # Every moment this API writes into a cursor carries its offset, and is in UTC.
    if at.tzinfo is None or at.utcoffset():
        raise HTTPException(status.HTTP_400_BAD_REQUEST, NOT_A_CURSOR)
    return at, after


def encode_moment(moment: datetime, row_id: uuid.UUID) -> str | None:
    return encode(f"{moment.isoformat()}|{row_id}")
