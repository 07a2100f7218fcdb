"""``kakao``: KakaoTalk channel chatbots built in Kakao i Open Builder (Korea).

regiocrm is the bot's *skill server*: Open Builder POSTs each utterance that reaches a
block wired to the skill, and shows the passive replies regiocrm puts in its answer.
Open Builder signs nothing, so the skill must carry a shared secret in a custom header
(set on the skill in the console). Messages at any other time go through the chatbot
Event API, which triggers an event block configured in Open Builder::

    [channel_accounts.kakao_kr]
    channel = "kakao"
    market = "KR"
    shared_secret = "…"                  # the value of X-Regiocrm-Skill-Secret
    bot_id = "…"                         # for the Event API
    rest_api_key = "…"                   # the linked Kakao Developers app's REST API key
    event_name = "regiocrm_message"      # the event block that shows the text
"""

from __future__ import annotations

from regiocrm import hookimpl
from regiocrm.interfaces.channels import Channel
from regiocrm.plugins.channels.kakao.channel import KakaoAccountSettings, KakaoChannel

__all__ = ["KakaoAccountSettings", "KakaoChannel"]


@hookimpl
def register_channels() -> list[Channel]:
    return [KakaoChannel()]
