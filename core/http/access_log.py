"""What uvicorn's access log may show of a request's URL.

A provider's webhook request can carry a secret in its query string (WhatsApp's URL
verification sends the account's verify token), and API queries can carry personal data
(``?identity=phone:+86…``). Access logs are read by more people, and kept longer, than the
settings `regiocrm config show` masks: every configured secret, and every query parameter a
channel or the API declares private, is replaced by :data:`MASK` before a line is written.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, unquote_plus

from uvicorn.config import LOGGING_CONFIG

from regiocrm.interfaces.channels import Channel
from regiocrm.platform.settings import RegiocrmSettings

# As `regiocrm config show` prints a secret.
MASK = "**********"
# The API's query parameters whose values are personal data: an identity is a phone number,
# an e-mail address, a messenger id.
API_PRIVATE_PARAMETERS = ("identity",)


class RedactSecrets(logging.Filter):
    """Mask secrets in the request line of uvicorn's access log records.

    A path segment or query parameter is masked whole when its decoded text contains a
    secret, however the client percent-encoded it; a private parameter's value is masked
    whatever it is (a wrong verify token is someone's credential too).
    """

    def __init__(self, secrets: Iterable[str], parameters: Iterable[str]) -> None:
        super().__init__()
        self.secrets = frozenset(secret for secret in secrets if secret)
        self.parameters = frozenset(parameter.lower() for parameter in parameters)

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn logs (client, method, path with query, HTTP version, status) as arguments;
        # its AccessFormatter reads them from there too.
        if isinstance(record.args, tuple):
            record.args = tuple(
                self.redact(argument) if isinstance(argument, str) else argument
                for argument in record.args
            )
        return True

    def redact(self, target: str) -> str:
        """``target`` (a path with its query, as sent) with its secrets masked."""
        path, separator, query = target.partition("?")
        path = "/".join(self._segment(segment) for segment in path.split("/"))
        if separator:
            query = "&".join(self._parameter(pair) for pair in query.split("&"))
        return path + separator + query

    def _holds_secret(self, text: str) -> bool:
        return any(secret in text for secret in self.secrets)

    def _segment(self, segment: str) -> str:
        return MASK if self._holds_secret(unquote(segment)) else segment

    def _parameter(self, pair: str) -> str:
        raw_name, equals, raw_value = pair.partition("=")
        name, value = unquote_plus(raw_name), unquote_plus(raw_value)
        if self._holds_secret(name):
            return MASK
        if value and (name.lower() in self.parameters or self._holds_secret(value)):
            return f"{raw_name}{equals}{MASK}"
        return pair


def private_parameters(channels: Iterable[Channel]) -> list[str]:
    """The query parameters masked in the access log: the channels' and the API's."""
    names = {name for channel in channels for name in channel.private_query_parameters}
    return sorted(names | set(API_PRIVATE_PARAMETERS))


def log_config(settings: RegiocrmSettings, channels: Iterable[Channel]) -> dict[str, Any]:
    """uvicorn's own logging configuration, its access log filtered by
    :class:`RedactSecrets` for the deployment's secrets and the channels' parameters."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {
        "()": RedactSecrets,
        "secrets": sorted(settings.secret_values()),
        "parameters": private_parameters(channels),
    }
    config["loggers"]["uvicorn.access"]["filters"] = ["redact_secrets"]
    # httpx logs each request's URL at INFO, and some map providers take their key in the
    # query string: keep those lines out of a deployment's logs whatever its log level.
    config["loggers"]["httpx"] = {"level": "WARNING"}
    return config
