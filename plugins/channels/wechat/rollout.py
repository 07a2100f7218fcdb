"""The WeChat plugin's rollout check: every account of the market in safe mode (安全模式).

In plaintext mode WeChat signs the query (token, timestamp, nonce) but not the body. The
core refuses a second body for a signature it has seen, but whoever sees a signed URL
before WeChat's own delivery arrives (a proxy's access log, a tap on the wire) can still
post a message of their own with it, as any follower, and read every message on its way.
"""

from __future__ import annotations

from collections.abc import Iterable

from regiocrm import Finding, Outcome, Target
from regiocrm.platform.i18n import _
from regiocrm.plugins.channels.wechat.channel import WeChatAccountSettings


def safe_mode(target: Target) -> Iterable[Finding]:
    """Fail each WeChat account of the market without an ``encoding_aes_key``. Invalid
    settings give no finding here: the core's settings check already fails them."""
    if target.settings is None:
        return
    for name, account in target.settings.channel_accounts.items():
        if not isinstance(account, WeChatAccountSettings) or account.market != target.market:
            continue
        check = f"wechat {name}"
        if account.encoding_aes_key is not None:
            yield Finding(
                check, Outcome.PASS, _("in safe mode: WeChat signs and encrypts the body")
            )
            continue
        yield Finding(
            check,
            Outcome.FAIL,
            _(
                "in plaintext mode WeChat signs the URL but not the body, so whoever sees a"
                " signed URL (in a log, on the wire) can replay it with a message of their own"
                " as any follower before WeChat's delivery arrives, and read every message"
            ),
            _(
                "set encoding_aes_key in [channel_accounts.{name}] to the account's"
                " EncodingAESKey and choose safe mode (安全模式) in its server configuration"
            ).format(name=name),
        )
