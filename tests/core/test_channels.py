"""What the core gives channel plugins to read a signed body safely: one JSON parse and one
conversion of provider times, each refusing with :class:`MalformedPayload` (400) what would
otherwise fail further on with a 500."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from regiocrm.interfaces.channels import MalformedPayload, parse_json, provider_time
from regiocrm.testing.channels import deeply_nested_json

RECEIVED = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def test_json_within_bounds_parses_as_python_does() -> None:
    body = b'{"a": [9007199254740991, -9007199254740991, 1.5e300, "\\u0000", "\\ud83d\\ude97"]}'
    assert parse_json(body) == {"a": [2**53 - 1, -(2**53 - 1), 1.5e300, "\x00", "\N{AUTOMOBILE}"]}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(deeply_nested_json(), "recursion limit exceeded", id="100,000 deep"),
        pytest.param(deeply_nested_json(202), "recursion limit exceeded", id="202 deep"),
        pytest.param(b'["\\ud800"]', "hex escape", id="lone high surrogate"),
        pytest.param(b'["\\udc00"]', "lone leading surrogate", id="lone low surrogate"),
        pytest.param(b'["\xed\xa0\x80"]', "invalid unicode code point", id="surrogate in UTF-8"),
        pytest.param(b"[NaN]", "the body is not JSON", id="NaN"),
        pytest.param(b"[-Infinity]", "the body is not JSON", id="-Infinity"),
        pytest.param(b"[1e400]", "a number too large for a float", id="1e400"),
        pytest.param(b"[9007199254740992]", "the integer 9007199254740992", id="2**53"),
        pytest.param(b"[" + b"9" * 400 + b"]", "999999999999…(400 digits)", id="400 digits"),
    ],
)
def test_json_a_parser_or_a_database_chokes_on_is_malformed(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedPayload, match=re.escape(reason)):
        parse_json(body)


def test_nesting_a_provider_uses_is_no_limit() -> None:
    assert parse_json(deeply_nested_json(200)) == parse_json(deeply_nested_json(200))


def test_provider_time_in_seconds_and_milliseconds() -> None:
    assert provider_time(0, name="t", received_at=RECEIVED) == datetime(1970, 1, 1, tzinfo=UTC)
    at = provider_time(1765011600123, name="t", received_at=RECEIVED, milliseconds=True)
    assert at == datetime(2025, 12, 6, 9, 0, 0, 123000, tzinfo=UTC)


@pytest.mark.parametrize("milliseconds", [False, True])
def test_provider_time_allows_a_clock_a_day_ahead_and_no_more(milliseconds: bool) -> None:
    unit = 1000 if milliseconds else 1
    latest = int((RECEIVED + timedelta(days=1)).timestamp()) * unit
    assert provider_time(
        latest, name="t", received_at=RECEIVED, milliseconds=milliseconds
    ) == RECEIVED + timedelta(days=1)
    with pytest.raises(MalformedPayload, match=f"^sent {latest + 1} is not a time"):
        provider_time(latest + 1, name="sent", received_at=RECEIVED, milliseconds=milliseconds)


@pytest.mark.parametrize("value", [-1, 10**20, -(10**20), 10**399])
def test_provider_time_refuses_any_size_of_number_without_overflowing(value: int) -> None:
    with pytest.raises(MalformedPayload, match="is not a time the message can have been sent at"):
        provider_time(value, name="timestamp", received_at=RECEIVED)
