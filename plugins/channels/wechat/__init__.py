"""``wechat``: WeChat Official Account (公众号) messages, plaintext or safe mode (安全模式).

Customers write to the account; WeChat posts each message to
``/webhooks/wechat/{account}``, and the channel answers with a passive reply or
``success``. Later messages go out through the customer-service API, which WeChat allows
within 48 hours of the customer's last message. See :mod:`regiocrm.plugins.channels.wechat.channel`.
``regiocrm rollout check`` fails an account not in safe mode
(:mod:`regiocrm.plugins.channels.wechat.rollout`).
"""

from __future__ import annotations

from regiocrm import Channel, RolloutCheck, hookimpl
from regiocrm.plugins.channels.wechat.channel import WeChatAccountSettings, WeChatChannel
from regiocrm.plugins.channels.wechat.rollout import safe_mode

__all__ = ["WeChatAccountSettings", "WeChatChannel"]


@hookimpl
def register_channels() -> list[Channel]:
    return [WeChatChannel()]


@hookimpl
def register_rollout_checks() -> list[RolloutCheck]:
    return [RolloutCheck("wechat safe mode", safe_mode)]
