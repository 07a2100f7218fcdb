"""Loaded by the schemathesis runs (``SCHEMATHESIS_HOOKS``): how to send a generated body of
a media type schemathesis has no serializer for."""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx: Any, value: Any) -> bytes:
    """The telematics batch is documented as a string of JSON lines: a generated string is
    sent as it is (lone surrogates as the replacement character), anything else as one
    JSON line."""
    if isinstance(value, str):
        return value.encode("utf-8", errors="replace")
    return json.dumps(value).encode() + b"\n"
