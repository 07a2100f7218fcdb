"""Identity normalisation through the hook: built-in kinds, unknown kinds, overrides."""

from __future__ import annotations

import pytest

from regiocrm import hookimpl
from regiocrm.interfaces.identities import InvalidIdentity, NormalizedIdentity
from regiocrm.platform.hooks import Hooks


def test_not_an_email_address_is_refused(regiocrm_hooks: Hooks) -> None:
    with pytest.raises(InvalidIdentity, match="is not an e-mail address"):
        regiocrm_hooks.normalize_identity(kind="email", value="jane at example", market="AU")


def test_unknown_kinds_are_only_trimmed(regiocrm_hooks: Hooks) -> None:
    got = regiocrm_hooks.normalize_identity(kind="line_user_id", value=" U4af4980629 ", market="JP")
    assert got == NormalizedIdentity("line_user_id", "U4af4980629")


def test_hook_normalize_identity(register_plugin, regiocrm_hooks: Hooks) -> None:
    class WeChat:
        @hookimpl
        def normalize_identity(
            self, kind: str, value: str, market: str
        ) -> NormalizedIdentity | None:
            if kind != "wechat_openid":
                return None
            if not value.startswith("o"):
                raise InvalidIdentity(f"{value!r} is not an OpenID")
            return NormalizedIdentity(kind, value)

    register_plugin(WeChat())
    assert (
        regiocrm_hooks.normalize_identity(kind="wechat_openid", value="oABC", market="CN").value
        == "oABC"
    )
    with pytest.raises(InvalidIdentity, match="not an OpenID"):
        regiocrm_hooks.normalize_identity(kind="wechat_openid", value="xyz", market="CN")
    # The template still answers the kinds the plugin leaves alone.
    assert regiocrm_hooks.normalize_identity(
        kind="phone", value="010-1234-5678", market="KR"
    ).value == ("+821012345678")
