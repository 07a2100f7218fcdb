"""Every built-in channel passes the conformance kit that third-party channels run too."""

from __future__ import annotations

from regiocrm.plugins.kakao.testing import KakaoDriver
from regiocrm.plugins.line.testing import LineDriver
from regiocrm.plugins.sms.testing import SmsDriver
from regiocrm.plugins.wechat.testing import WeChatDriver
from regiocrm.plugins.whatsapp.testing import WhatsAppDriver
from regiocrm.testing.conformance import ChannelConformance


class TestWeChat(ChannelConformance):
    driver = WeChatDriver()


class TestLine(ChannelConformance):
    driver = LineDriver()


class TestKakao(ChannelConformance):
    driver = KakaoDriver()


class TestWhatsApp(ChannelConformance):
    driver = WhatsAppDriver()


class TestSms(ChannelConformance):
    driver = SmsDriver()
