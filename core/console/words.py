"""Words pages show for values the services hand back as codes: a channel (or an identity
kind, or where a lead came from) and a lead's status.

Called while a page renders, so ``_()`` answers in the page's language.
"""

from __future__ import annotations

from regiocrm.platform.i18n import _

# Channels by the names their providers give them, in every language; a channel a plugin
# adds shows its own name.
CHANNEL_NAMES = {
    "sms": "SMS",
    "wechat": "WeChat",
    "wechat_openid": "WeChat",
    "wechat_unionid": "WeChat UnionID",
    "line": "LINE",
    "kakao": "KakaoTalk",
    "whatsapp": "WhatsApp",
}


def status_label(value: str) -> str:
    """A lead status (``contacted``) as the reader reads it."""
    labels = {
        "new": _("New"),
        "contacted": _("Contacted"),
        "qualified": _("Qualified"),
        "won": _("Won"),
        "lost": _("Lost"),
    }
    return labels.get(value, value)


def channel_label(value: str) -> str:
    """A channel or identity kind (``wechat_openid``, ``phone``) or a lead's source as the
    reader reads it; a source no channel names is shown as it was stored."""
    labels = {
        "phone": _("Phone"),
        "email": _("E-mail"),
        "call_centre": _("Call centre"),
        "web": _("Website"),
    }
    return labels.get(value) or CHANNEL_NAMES.get(value, value)
