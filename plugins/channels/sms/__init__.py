"""``sms``: SMS and MMS through Twilio Programmable Messaging as a regiocrm channel.

Twilio posts each incoming message as a signed form (``X-Twilio-Signature``) and takes the
replies in the HTTP answer as TwiML; other messages go out through Twilio's REST API.
See :mod:`regiocrm.plugins.channels.sms.channel` for the protocol details.
"""

from __future__ import annotations

from regiocrm import hookimpl
from regiocrm.interfaces.channels import Channel
from regiocrm.plugins.channels.sms.channel import SmsAccountSettings, SmsChannel

__all__ = ["SmsAccountSettings", "SmsChannel", "register_channels"]


@hookimpl
def register_channels() -> list[Channel]:
    return [SmsChannel()]
