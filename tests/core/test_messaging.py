"""Outbound messages: retried with backoff while a failure may pass, then one clear error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from regiocrm.interfaces.channels import ChannelAccount, IdentityRef, SendError
from regiocrm.messaging.outbound import DeliveryError, Route, deliver


class Flaky:
    """A channel whose provider fails as scripted, then accepts."""

    name = "flaky"

    def __init__(self, *failures: SendError) -> None:
        self.failures = list(failures)
        self.calls = 0

    def send(self, account: Any, recipient: Any, text: str, **kwargs: Any) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return f"sent-{self.calls}"


ACCOUNT = ChannelAccount("acct", "flaky", "JP", None)
TO = IdentityRef("line", "U1")


def route(channel: Flaky) -> Route:
    return Route(channel, ACCOUNT, TO)  # type: ignore[arg-type]


def test_passing_failures_are_retried_with_exponential_backoff() -> None:
    channel = Flaky(SendError("timeout", retryable=True), SendError("429", retryable=True))
    waits: list[float] = []
    sent = deliver(route(channel), "hi", client=httpx.Client(), backoff=0.5, sleep=waits.append)
    assert sent == "sent-3"
    assert waits == [0.5, 1.0]


def test_a_refusal_is_not_retried() -> None:
    channel = Flaky(SendError("outside the 24h window", retryable=False))
    waits: list[float] = []
    with pytest.raises(DeliveryError, match="outside the 24h window") as failed:
        deliver(route(channel), "hi", client=httpx.Client(), sleep=waits.append)
    assert channel.calls == 1
    assert waits == []
    assert "after" not in str(failed.value)


def test_giving_up_says_how_often_it_tried() -> None:
    channel = Flaky(*(SendError("503 from provider", retryable=True) for _ in range(5)))
    with pytest.raises(DeliveryError) as failed:
        deliver(route(channel), "hi", client=httpx.Client(), attempts=3, sleep=lambda _: None)
    assert channel.calls == 3
    assert str(failed.value) == (
        "flaky account 'acct' could not send to line:U1 after 3 attempts: 503 from provider"
    )
