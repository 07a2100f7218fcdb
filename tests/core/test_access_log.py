"""The access log's request lines keep no secret: configured ones, however encoded, and the
query parameters channels and the API declare private."""

from __future__ import annotations

import logging
import logging.config

import pytest

from regiocrm.http.access_log import MASK, RedactSecrets, log_config, private_parameters
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.plugins.channels.whatsapp.testing import VERIFY_TOKEN, WhatsAppDriver

SECRET = "s3cret/tok+en"


@pytest.fixture
def redact() -> RedactSecrets:
    return RedactSecrets([SECRET, ""], ["hub.verify_token", "signature"])


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        (
            "/webhooks/whatsapp/wa?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=42",
            f"/webhooks/whatsapp/wa?hub.mode=subscribe&hub.verify_token={MASK}&hub.challenge=42",
        ),
        ("/x?token=s3cret/tok%2Ben", f"/x?token={MASK}"),
        ("/x?token=%73%33cret%2ftok%2Ben&page=2", f"/x?token={MASK}&page=2"),
        ("/x?note=my+s3cret/tok%2Ben+here", f"/x?note={MASK}"),
        ("/x?s3cret%2Ftok%2Ben=1&a=b", f"/x?{MASK}&a=b"),
        ("/webhooks/s3cret%2Ftok+en/x", f"/webhooks/{MASK}/x"),
        ("/x?Signature=abc&signature=&nonce=7", f"/x?Signature={MASK}&signature=&nonce=7"),
        ("/api/customers?limit=5&cursor=abc", "/api/customers?limit=5&cursor=abc"),
        ("/x?%ZZ=%ff&lonely", "/x?%ZZ=%ff&lonely"),
    ],
)
def test_a_request_line_is_logged_without_its_secrets(
    redact: RedactSecrets, target: str, logged: str
) -> None:
    assert redact.redact(target) == logged


def test_every_configured_secret_is_known(regiocrm_hooks: Hooks, deployment_dir) -> None:
    settings = load_settings(
        regiocrm_hooks,
        zones={"au": "postgresql://crm:db-pa55@db.internal/crm"},
        home_zone="au",
        deployment={"market": "AU"},
        channel_accounts={"wa_au": WhatsAppDriver().account_settings()},
    )
    secrets = settings.secret_values()
    account = WhatsAppDriver().account_settings()
    assert {"db-pa55", account["verify_token"], account["app_secret"]} <= secrets
    assert account["access_token"] in secrets
    assert "crm" not in secrets


def test_channels_and_the_api_name_their_private_parameters(regiocrm_hooks: Hooks) -> None:
    parameters = private_parameters(regiocrm_hooks.channels().values())
    assert {"hub.verify_token", "signature", "msg_signature", "openid", "identity"} <= set(
        parameters
    )


def test_uvicorns_access_log_is_configured_to_redact(
    regiocrm_hooks: Hooks, deployment_dir, capsys: pytest.CaptureFixture[str]
) -> None:
    """The configuration handed to uvicorn, applied, and a record logged as uvicorn logs
    one: the verify token is masked in what reaches the stream."""
    settings = load_settings(
        regiocrm_hooks, channel_accounts={"wa_au": WhatsAppDriver().account_settings()}
    )
    logging.config.dictConfig(log_config(settings, regiocrm_hooks.channels().values()))
    try:
        target = f"/webhooks/whatsapp/wa_au?hub.verify_token={VERIFY_TOKEN}&hub.challenge=1"
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", target, "1.1", 200
        )
        logged = capsys.readouterr().out
    finally:
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.filters.clear()
            logger.propagate = True
    assert f"hub.verify_token={MASK}&hub.challenge=1" in logged
    assert VERIFY_TOKEN not in logged
