"""``email``: a service address as a channel: mail in from its IMAP mailbox (polled by
``regiocrm worker``) or a provider's inbound webhook (Mailgun, SendGrid), answers out
through SMTP, threaded under the customer's mail::

    [channel_accounts.mail_jp]
    channel = "email"
    market = "JP"
    address = "service@brand.co.jp"
    display_name = "ブランド カスタマーサービス"

    [channel_accounts.mail_jp.imap]
    host = "imap.brand.co.jp"
    user = "service@brand.co.jp"
    password = "…"

    [channel_accounts.mail_jp.smtp]
    host = "smtp.brand.co.jp"
    user = "service@brand.co.jp"
    password = "…"

See ``docs/email.md`` for the webhook providers and every setting.
"""

from __future__ import annotations

from regiocrm import hookimpl
from regiocrm.interfaces.channels import Channel
from regiocrm.plugins.channels.email.channel import EmailChannel
from regiocrm.plugins.channels.email.settings import (
    EmailAccountSettings,
    ImapSettings,
    SmtpSettings,
)

__all__ = ["EmailAccountSettings", "EmailChannel", "ImapSettings", "SmtpSettings"]


@hookimpl
def register_channels() -> list[Channel]:
    return [EmailChannel()]
