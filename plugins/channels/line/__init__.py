"""``line``: the LINE Messaging API channel (Japan's primary channel; also Taiwan, Thailand).

Webhooks are checked against ``X-Line-Signature`` and parsed into messages and
follow/unfollow events; replies go out through the reply API with the event's reply
token, other messages through the push API with a retry key. An account needs the
channel secret and a channel access token::

    [channel_accounts.line_jp]
    channel = "line"
    market = "JP"
    channel_secret = "…"
    access_token = "…"
"""

from __future__ import annotations

from regiocrm import hookimpl
from regiocrm.interfaces.channels import Channel
from regiocrm.plugins.channels.line.channel import LineAccountSettings, LineChannel

__all__ = ["LineAccountSettings", "LineChannel"]


@hookimpl
def register_channels() -> list[Channel]:
    return [LineChannel()]
