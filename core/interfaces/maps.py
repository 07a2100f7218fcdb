"""Maps: what a map-provider plugin implements, and the types it speaks in.

A provider registers one :class:`MapProvider` through the ``register_map_providers`` hook.
Every point the core stores is WGS-84; a provider works in its own datum (Baidu in BD-09,
AMap in GCJ-02, the others in WGS-84), and the core converts at the boundary
(:mod:`regiocrm.geo.datums`): a provider is always given points in its ``datum`` and returns
them in it.
"""

from __future__ import annotations

import enum
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from regiocrm.interfaces.settings import Section


class Datum(enum.StrEnum):
    """A geodetic datum: WGS-84 (GPS, Google, Naver, Kakao), GCJ-02 (China's shifted
    datum: AMap, Tencent) or BD-09 (Baidu's further shift of GCJ-02)."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


@dataclass(frozen=True)
class Point:
    """A point that always says which datum its degrees are in.

    :raises ValueError: for a latitude outside -90..90 or a longitude outside -180..180.
    """

    lat: float
    lon: float
    datum: Datum = Datum.WGS84

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lat) and -90 <= self.lat <= 90):
            raise ValueError(f"latitude {self.lat} is outside -90..90")
        if not (math.isfinite(self.lon) and -180 <= self.lon <= 180):
            raise ValueError(f"longitude {self.lon} is outside -180..180")


@dataclass(frozen=True)
class Place:
    """What a provider found: a point in the provider's datum and how it wrote the place.

    :param precision: the provider's own word for how exact the point is (Google's
        ``ROOFTOP``, Baidu's ``门址``, AMap's ``门牌号``), when it gives one.
    """

    point: Point
    address: str | None = None
    precision: str | None = None


class MapError(Exception):
    """A provider that could not answer; the chain moves on to the next one."""


class NoResult(MapError):
    """The provider answered, and found nothing."""


class MapRefused(MapError):
    """The provider refused: a bad or missing key, a quota, a service not enabled."""


class MapUnavailable(MapError):
    """The provider could not be reached, timed out, or answered garbage."""


def redact(text: str, secret: str) -> str:
    """``text`` without ``secret`` (raw or URL-encoded), cut to 200 characters: a provider's
    error answer, or a transport error quoting the request URL, may carry the API key."""
    for form in {secret, quote(secret, safe="")}:
        if form:
            text = text.replace(form, "***")
    return text[:200]


def fetch(provider: str, secret: str, call: Callable[[], httpx.Response]) -> httpx.Response:
    """Make one call to a provider's API; a timeout or a network failure becomes
    :class:`MapUnavailable`, not chained to the transport error, whose request URL may
    carry the key."""
    try:
        return call()
    except httpx.TransportError as exc:
        raise MapUnavailable(
            f"{provider} could not be reached: {type(exc).__name__}: {redact(str(exc), secret)}"
        ) from None


def json_object(provider: str, response: httpx.Response, secret: str) -> dict[str, Any]:
    """The JSON object a provider answered; anything else is :class:`MapUnavailable`."""
    try:
        body = response.json()
    except ValueError:
        raise MapUnavailable(
            f"{provider} answered {response.status_code} non-JSON: {redact(response.text, secret)}"
        ) from None
    if not isinstance(body, dict):
        raise MapUnavailable(
            f"{provider} answered an unexpected shape: {redact(response.text, secret)}"
        )
    return body


class MapProviderSettings(Section):
    """Base of a provider's settings section (``[maps.<provider>]``)."""


class ApiKeySettings(MapProviderSettings):
    """A provider's section whose one credential is an API ``key``."""

    key: SecretStr | None = None

    def api_key(self, provider: str) -> str:
        """The key, for a call about to be made.

        :raises MapRefused: when the deployment gave none (so the chain moves on).
        """
        if self.key is None or not self.key.get_secret_value():
            raise MapRefused(f"{provider} has no key ([maps.{provider}] key)")
        return self.key.get_secret_value()


class MapProvider(ABC):
    """A map provider. Subclass it, set the class attributes, implement the methods.

    The core calls :meth:`geocode` and :meth:`reverse`, which do what every provider does
    before it may call its API (an empty address names no place; missing credentials are
    a refusal, see :meth:`secret`) and then ask :meth:`lookup_address` and
    :meth:`lookup_point`, the provider's own part.

    :cvar name: the provider's name in packs' chains and in settings (``amap``).
    :cvar datum: the datum the provider's API speaks.
    :cvar settings_model: its ``[maps.<name>]`` section; secrets as ``SecretStr``.
    :cvar offline: whether it answers without the network (a chain needs one such last).
    """

    name: ClassVar[str]
    datum: ClassVar[Datum]
    settings_model: ClassVar[type[MapProviderSettings]] = MapProviderSettings
    offline: ClassVar[bool] = False

    def secret(self, settings: Any) -> str:
        """The credential a call needs, which no message may show (:func:`redact` it).
        Default: an :class:`ApiKeySettings` section's key; ``""`` for any other section,
        which needs none. Override it for other credentials.

        :raises MapRefused: when the deployment did not give it (so the chain moves on).
        """
        if isinstance(settings, ApiKeySettings):
            return settings.api_key(self.name)
        return ""

    def configured(self, settings: Any) -> bool:
        """Whether the deployment gave what the provider needs (:meth:`secret` has it). A
        chain passes over a provider that is not configured."""
        try:
            self.secret(settings)
        except MapRefused:
            return False
        return True

    def geocode(self, address: str, *, market: str, settings: Any, client: httpx.Client) -> Place:
        """The place an address names, its point in :attr:`datum`, from
        :meth:`lookup_address` once the address is not empty and the credentials are there.

        :raises NoResult: for an empty address, or when the provider finds nothing.
        :raises MapRefused: for missing credentials, a bad key or an exhausted quota.
        :raises MapUnavailable: for a timeout, a network failure or an answer it cannot read.
        """
        if not address.strip():
            raise NoResult(f"{self.name}: an empty address names no place")
        secret = self.secret(settings)
        return self.lookup_address(
            address, market=market, settings=settings, secret=secret, client=client
        )

    def reverse(self, point: Point, *, market: str, settings: Any, client: httpx.Client) -> Place:
        """The address at a point given in :attr:`datum`, from :meth:`lookup_point` once the
        credentials are there.

        :raises NoResult: when the provider has no address there.
        :raises MapRefused: for missing credentials, a bad key or an exhausted quota.
        :raises MapUnavailable: for a timeout, a network failure or an answer it cannot read.
        """
        secret = self.secret(settings)
        return self.lookup_point(
            point, market=market, settings=settings, secret=secret, client=client
        )

    @abstractmethod
    def lookup_address(
        self, address: str, *, market: str, settings: Any, secret: str, client: httpx.Client
    ) -> Place:
        """Ask the provider for the place a non-empty address names.

        :param secret: what :meth:`secret` gave for ``settings``.
        :raises NoResult: when the provider finds nothing.
        :raises MapRefused: for a bad key or an exhausted quota.
        :raises MapUnavailable: for a timeout, a network failure or an answer it cannot read.
        """

    @abstractmethod
    def lookup_point(
        self, point: Point, *, market: str, settings: Any, secret: str, client: httpx.Client
    ) -> Place:
        """Ask the provider for the address at a point given in :attr:`datum`.

        :param secret: what :meth:`secret` gave for ``settings``.
        :raises NoResult: when the provider has no address there.
        :raises MapRefused: for a bad key or an exhausted quota.
        :raises MapUnavailable: for a timeout, a network failure or an answer it cannot read.
        """

    @abstractmethod
    def map_link(self, point: Point) -> str:
        """A URL that shows the point (given in :attr:`datum`) on the provider's map."""
