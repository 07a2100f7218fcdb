"""``whatsapp``: the WhatsApp Cloud API (Meta Graph API) as a regiocrm channel.

Meta checks the webhook URL once with a GET carrying the account's verify token, then POSTs
JSON notifications signed with the app secret (``X-Hub-Signature-256``). Replies are never
taken in the HTTP answer: the core sends them through the Graph API's messages endpoint.
See :mod:`regiocrm.plugins.channels.whatsapp.channel` for the protocol details.
"""

from __future__ import annotations

from regiocrm import hookimpl
from regiocrm.interfaces.channels import Channel
from regiocrm.plugins.channels.whatsapp.channel import WhatsAppAccountSettings, WhatsAppChannel

__all__ = ["WhatsAppAccountSettings", "WhatsAppChannel", "register_channels"]


@hookimpl
def register_channels() -> list[Channel]:
    return [WhatsAppChannel()]
