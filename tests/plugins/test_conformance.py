"""Every built-in channel passes the conformance kit that third-party channels run too."""

from __future__ import annotations

import pytest

from regiocrm.models import InboxMessage
from regiocrm.plugins.channels.email.testing import EmailDriver
from regiocrm.plugins.channels.kakao.testing import KakaoDriver
from regiocrm.plugins.channels.line.testing import LineDriver
from regiocrm.plugins.channels.sms.testing import SmsDriver
from regiocrm.plugins.channels.wechat.testing import WeChatDriver
from regiocrm.plugins.channels.whatsapp.testing import WhatsAppDriver
from regiocrm.testing.conformance import ChannelConformance, Deployment


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

    @pytest.mark.parametrize("sender", ["TELSTRA", "12345"], ids=["alphanumeric", "short code"])
    def test_a_sender_that_is_no_phone_number_is_refused(
        self, deployment: Deployment, sender: str
    ) -> None:
        """An SMS from an alphanumeric sender id or a short code names no customer:
        acknowledged, it would fail for ever when processed, so it is refused with the
        reason and nothing is stored."""
        request = self.driver.text_message(
            deployment.url, sender=sender, text="hi", message_id="m-sender", at=self.now()
        )
        response = deployment.deliver(request)
        assert response.status_code == 400
        assert response.json()["detail"].startswith("the sender cannot be recognised: ")
        assert deployment.count(InboxMessage) == 0


class TestEmail(ChannelConformance):
    driver = EmailDriver()
