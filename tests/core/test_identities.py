"""Identity normalisation through the hook: built-in kinds, unknown kinds, overrides."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# The plain-address fast path must answer exactly as email-validator does.

_ADDRESS_CHARS = "aZ09.+_-!#'~@ \"()[],;:\\<>éü中\u00a0\t"
_DOMAINS = (
    "example.com",
    "Gmail.COM",
    "googlemail.com",
    "qq.com",
    "localhost",
    "example",
    "b..com",
    "-a.com",
    "a-.com",
    "xn--fiqs8s.cn",
    "münchen.de",
    "[127.0.0.1]",
    "example.invalid",
    "a.b.c.d.e.f",
    "x" * 64 + ".com",
    "local",
    "123.456",
)


def _slow(value: str) -> str | None:
    """What email-validator alone makes of the value, as the hook did before the fast path."""
    from email_validator import EmailNotValidError, validate_email

    try:
        address = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError:
        return None
    return f"{address.local_part.lower()}@{address.ascii_domain.lower()}"


@settings(max_examples=400, deadline=None)
@given(
    local=st.one_of(
        st.text(alphabet=_ADDRESS_CHARS, min_size=0, max_size=70),
        st.text(alphabet="aZ09.+_-!#'~{}|/=?^`$%&*", min_size=0, max_size=70),
    ),
    domain=st.one_of(
        st.sampled_from(_DOMAINS), st.text(alphabet="ab1.-xn", min_size=0, max_size=12)
    ),
)
def test_the_fast_path_for_plain_addresses_agrees_with_email_validator(
    local: str, domain: str
) -> None:
    from regiocrm.regions.asia import _simple_email

    value = f"{local}@{domain}"
    fast = _simple_email(value)
    if fast is not None:
        assert f"{fast[0]}@{fast[1]}" == _slow(value), value


def test_plain_addresses_take_the_fast_path_and_others_do_not() -> None:
    from regiocrm.regions.asia import _simple_email

    assert _simple_email("Jane.Doe+car@Example.COM") == ("jane.doe+car", "example.com")
    for value in (
        "a..b@example.com",
        ".a@example.com",
        "a@b@example.com",
        " a@example.com",
        '"a b"@example.com',
        "用户@example.com",
        "a@localhost",
        "a@[127.0.0.1]",
        "a" * 65 + "@example.com",
    ):
        assert _simple_email(value) is None, value
