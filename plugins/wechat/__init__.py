"""``wechat``: WeChat Official Account (公众号) messages, plaintext or safe mode (安全模式).

Customers write to the account; WeChat posts each message to
``/webhooks/wechat/{account}``, and the channel answers with a passive reply or
``success``. Later messages go out through the customer-service API, which WeChat allows
within 48 hours of the customer's last message. See :mod:`regiocrm.plugins.wechat.channel`.
"""

from __future__ import annotations

from regiocrm import hookimpl
from regiocrm.channels import Channel
from regiocrm.plugins.wechat.channel import WeChatAccountSettings, WeChatChannel

__all__ = ["WeChatAccountSettings", "WeChatChannel"]


@hookimpl
def register_channels() -> list[Channel]:
    return [WeChatChannel()]
