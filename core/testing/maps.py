"""The map-provider conformance kit: one test suite every map provider runs against itself.

Subclass :class:`MapProviderConformance` in a test module, name the provider, its settings
and its API's answers as the provider documents them; pytest collects the inherited tests::

    from regiocrm.interfaces.maps import Datum, Place, Point
    from regiocrm.testing.maps import Answer, Call, Lookup, MapProviderConformance
    from my_maps import MyProvider, MySettings

    KEY = "test-key"


    class TestMyMaps(MapProviderConformance):
        provider = MyProvider()
        settings = MySettings(key=KEY)
        market = "TH"
        address = "Siam Paragon, Bangkok"
        geocoded = Lookup(
            Call("https://api.example.com/geocode", {"q": "Siam Paragon, Bangkok", "key": KEY}),
            Answer({"status": "OK", "results": [{"lat": 13.746, "lng": 100.535}]}),
            Place(Point(13.746, 100.535, Datum.WGS84)),
        )
        nothing = (Answer({"status": "OK", "results": []}, name="no results"),)
        refusals = (Answer({"status": "DENIED"}, 403, says=("DENIED",), name="bad key"),)

Every provider is given the ``provider_api`` fixture's client, whose transport plays the
API with the recorded answers: no test touches the network. The kit checks that it:

- asks the real endpoint with the real parameters, its secrets only where the API wants
  them (in the query or in a header, never both), and reads the documented answer into the
  place, with the point in the provider's :attr:`~regiocrm.interfaces.maps.MapProvider.datum`;
- makes the same checks of a reverse lookup, where it declares one (``reversed``);
- raises ``NoResult`` for the answers that mean nothing was found, and for an empty
  address without a call;
- raises ``MapRefused`` for the key and quota errors, ``MapUnavailable`` for the provider's
  own failures, 5xx, a timeout, a failed connection, a body that is not JSON or not an
  object, and an answer it cannot read, for either call and never another exception;
- refuses without a call, and says it is not configured, when its credentials are missing;
- never shows a secret: not in an error's message (even when the answer or the transport
  error quotes it), not in a log record of its own, not in the settings' repr;
- is registered through ``register_map_providers`` by its plugin.

The kit is for providers that call an API; an offline one (the gazetteer) has no answers to
record.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import pydantic
import pytest

from regiocrm.interfaces.maps import (
    ApiKeySettings,
    Datum,
    MapError,
    MapProvider,
    MapProviderSettings,
    MapRefused,
    MapUnavailable,
    NoResult,
    Place,
    Point,
)
from regiocrm.platform.hooks import Hooks
from regiocrm.testing import RecordedAPI

# The deployment keeps httpx's own request lines out of its logs (`regiocrm serve` sets
# them to WARNING): they show the URL, and some APIs take their key in the query.
TRANSPORT_LOGGERS = ("httpx", "httpcore")

# JSON that parses but is no object: what a provider's error page or a proxy might send.
NOT_OBJECTS = {"an array": "[]", "a list": '["status", 0]', "a string": '"OK"', "null": "null"}


@dataclass(frozen=True)
class Answer:
    """One answer of the provider's API, as its documentation shows it.

    :param body: the JSON body (unless ``text`` is given).
    :param status: the HTTP status.
    :param text: a raw body instead of JSON.
    :param says: what the message of the error this answer leads to must contain.
    :param name: what the answer is, naming its test (``"quota"``).
    """

    body: Any = None
    status: int = 200
    text: str | None = None
    says: tuple[str, ...] = ()
    name: str = ""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.text is not None:
            return httpx.Response(self.status, text=self.text)
        return httpx.Response(self.status, json=self.body)

    def quoting(self, secret: str) -> Answer:
        """This answer with ``secret`` after every string in it, as an API that echoes the
        request's key in its messages would send it."""
        text = None if self.text is None else f"{self.text} {secret}"
        return replace(self, body=_quoting(self.body, secret), text=text, says=())


@dataclass(frozen=True)
class Call:
    """A request the provider must make: ``method`` to ``url`` with exactly ``query``, and
    ``headers`` among its headers."""

    url: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "GET"


@dataclass(frozen=True)
class Lookup:
    """A lookup that finds: the request made, the provider's answer, the place read from it."""

    request: Call
    answer: Answer
    place: Place


class MapProviderConformance:
    """What every map provider must do; subclass it and fill in the class attributes.

    :cvar provider: the provider under test.
    :cvar settings: its ``[maps.<name>]`` section, configured.
    :cvar market: the market the lookups are made for.
    :cvar address: the address geocoded.
    :cvar geocoded: geocoding ``address``.
    The tables of answers are tuples of :class:`Answer`, each test named by the answer's
    ``name``.

    :cvar nothing: answers to a geocode that mean nothing was found.
    :cvar point: the point reverse-geocoded, in the provider's datum (with ``reversed``).
    :cvar reversed: reverse-geocoding ``point``; None for a provider that does not.
    :cvar nowhere: answers to a reverse lookup that mean there is no address there.
    :cvar refusals: answers (to either call) that are a refusal: a bad key, a quota.
    :cvar failures: the provider's own errors (to either call) that are no refusal.
    :cvar server_errors: 5xx answers, each saying its status in the error.
    :cvar non_json: a body that is not JSON, as the provider might send one (its XML).
    :cvar wrong_shapes: JSON objects answering a geocode that the provider cannot read.
    :cvar reverse_wrong_shapes: the same for a reverse lookup.
    :cvar unconfigured: sections that lack a credential; default: the empty section,
        unless the provider needs none.
    :cvar plugin: the module or object whose ``register_map_providers`` gives the provider;
        default: the package of the provider's class.
    """

    provider: ClassVar[MapProvider]
    settings: ClassVar[MapProviderSettings]
    market: ClassVar[str]
    address: ClassVar[str]
    geocoded: ClassVar[Lookup]
    nothing: ClassVar[Sequence[Answer]] = ()
    point: ClassVar[Point | None] = None
    reversed: ClassVar[Lookup | None] = None
    nowhere: ClassVar[Sequence[Answer]] = ()
    refusals: ClassVar[Sequence[Answer]] = ()
    failures: ClassVar[Sequence[Answer]] = ()
    server_errors: ClassVar[Sequence[Answer]] = (
        Answer(status=500, text="Internal Server Error", says=("500",), name="500"),
        Answer(status=503, text="", says=("503",), name="503"),
    )
    non_json: ClassVar[str] = "<html><body>Service temporarily unavailable</body></html>"
    wrong_shapes: ClassVar[Sequence[Answer]] = ()
    reverse_wrong_shapes: ClassVar[Sequence[Answer]] = ()
    unconfigured: ClassVar[Sequence[MapProviderSettings] | None] = None
    plugin: ClassVar[Any] = None

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """One test per answer of this provider's tables, named by the answer, and per call
        (``geocode``, and ``reverse`` where the provider declares one)."""
        unconfigured = self.unconfigured
        if unconfigured is None:
            empty = self.provider.settings_model()
            unconfigured = () if self.provider.configured(empty) else (empty,)
        tables: dict[str, Mapping[str, Any]] = {
            "nothing_found": _named(self.nothing),
            "no_address": _named(self.nowhere),
            "refusal": _named(self.refusals),
            "failure": _named(self.failures),
            "server_error": _named(self.server_errors),
            "error_answer": {
                **_named(self.refusals, "refusal"),
                **_named(self.failures, "failure"),
                **_named(self.server_errors, "5xx"),
            },
            "wrong_shape": _named(self.wrong_shapes),
            "reverse_wrong_shape": _named(self.reverse_wrong_shapes),
            "unconfigured_settings": {_given(settings): settings for settings in unconfigured},
        }
        for argument, table in tables.items():
            if argument not in metafunc.fixturenames:
                continue
            if table:
                metafunc.parametrize(argument, list(table.values()), ids=list(table))
            else:
                # Said as the channel kit says a case that does not apply, instead of
                # pytest's "got empty parameter set".
                reason = f"{self.provider.name} declares no {argument.replace('_', ' ')} answers"
                skipped = pytest.param(None, marks=pytest.mark.skip(reason=reason), id="none")
                metafunc.parametrize(argument, [skipped])
        if "lookup" in metafunc.fixturenames:
            lookups = ["geocode", "reverse"] if self.reversed is not None else ["geocode"]
            metafunc.parametrize("lookup", lookups)

    @pytest.fixture(autouse=True)
    def no_secret_logged(self, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
        """Every test: no log record of the provider's (at any level) shows a secret."""
        caplog.set_level(logging.DEBUG)
        yield
        leaked = [
            record.name
            for record in caplog.get_records("call")
            if not record.name.startswith(TRANSPORT_LOGGERS) and self.leaks(record.getMessage())
        ]
        assert not leaked, f"a secret was logged by {leaked}"

    # -- helpers ---------------------------------------------------------------------------

    def secrets(self) -> list[str]:
        """The secrets of :attr:`settings`: its ``SecretStr`` values."""
        values = (getattr(self.settings, name) for name in type(self.settings).model_fields)
        return [
            value.get_secret_value()
            for value in values
            if isinstance(value, pydantic.SecretStr) and value.get_secret_value()
        ]

    def leaks(self, text: str) -> bool:
        """Whether ``text`` shows a secret, raw or URL-encoded."""
        return any(form in text for secret in self.secrets() for form in (secret, quote(secret)))

    def ask(
        self, lookup: str, client: httpx.Client, settings: MapProviderSettings | None = None
    ) -> Place:
        """Geocode :attr:`address` or reverse-geocode :attr:`point` through ``client``."""
        settings = self.settings if settings is None else settings
        if lookup == "geocode":
            return self.provider.geocode(
                self.address, market=self.market, settings=settings, client=client
            )
        assert self.point is not None, "a provider that reverse-geocodes names its point"
        return self.provider.reverse(
            self.point, market=self.market, settings=settings, client=client
        )

    def raised(
        self,
        provider_api: Callable[..., tuple[httpx.Client, RecordedAPI]],
        answer: Callable[[httpx.Request], httpx.Response],
        lookup: str,
        expected: type[MapError],
    ) -> MapError:
        """The error ``lookup`` raises when the API answers ``answer``: an ``expected``,
        not chained to a transport error, naming no secret."""
        client, _ = provider_api(answer)
        with pytest.raises(MapError) as raised:
            self.ask(lookup, client)
        error = raised.value
        assert isinstance(error, expected), f"{type(error).__name__}: {error}"
        assert not self.leaks(str(error)), f"a secret in the error: {error}"
        assert error.__cause__ is None
        return error

    def lookup_of(self, lookup: str) -> Lookup:
        found = self.geocoded if lookup == "geocode" else self.reversed
        assert found is not None
        return found

    # -- what a lookup asks and reads ------------------------------------------------------

    def test_asks_the_real_endpoint_with_the_real_parameters(
        self, provider_api: Any, lookup: str
    ) -> None:
        expected = self.lookup_of(lookup)
        client, api = provider_api(expected.answer)

        self.ask(lookup, client)

        [request] = api.requests
        assert request.method == expected.request.method
        assert urlunsplit(urlsplit(str(request.url))._replace(query="")) == expected.request.url
        assert api.query == {name: [value] for name, value in expected.request.query.items()}
        for name, value in expected.request.headers.items():
            assert request.headers.get(name) == value, name
        # A secret goes where the API wants it and nowhere else.
        headers = "\n".join(f"{name}: {value}" for name, value in request.headers.items())
        for secret in self.secrets():
            if secret not in expected.request.query.values():
                assert secret not in str(request.url), "a secret in the URL"
            if not any(secret in value for value in expected.request.headers.values()):
                assert secret not in headers, "a secret in a header"
            assert secret.encode() not in request.content

    def test_reads_the_place_in_the_providers_datum(self, provider_api: Any, lookup: str) -> None:
        expected = self.lookup_of(lookup)
        client, _ = provider_api(expected.answer)

        place = self.ask(lookup, client)

        assert place == expected.place
        assert place.point.datum is self.provider.datum

    def test_nothing_found_is_no_result(self, provider_api: Any, nothing_found: Answer) -> None:
        error = self.raised(provider_api, nothing_found, "geocode", NoResult)
        for text in nothing_found.says:
            assert text in str(error)

    def test_no_address_at_the_point_is_no_result(
        self, provider_api: Any, no_address: Answer
    ) -> None:
        error = self.raised(provider_api, no_address, "reverse", NoResult)
        for text in no_address.says:
            assert text in str(error)

    @pytest.mark.parametrize("address", ["", "   ", "\t\n"])
    def test_an_empty_address_is_no_result_without_a_call(
        self, provider_api: Any, address: str
    ) -> None:
        client, api = provider_api(self.geocoded.answer)

        with pytest.raises(NoResult):
            self.provider.geocode(
                address, market=self.market, settings=self.settings, client=client
            )

        assert api.requests == []

    # -- errors ----------------------------------------------------------------------------

    def test_key_and_quota_errors_are_refusals(
        self, provider_api: Any, refusal: Answer, lookup: str
    ) -> None:
        error = self.raised(provider_api, refusal, lookup, MapRefused)
        for text in refusal.says:
            assert text in str(error)

    def test_the_providers_failures_are_unavailable(
        self, provider_api: Any, failure: Answer, lookup: str
    ) -> None:
        error = self.raised(provider_api, failure, lookup, MapUnavailable)
        for text in failure.says:
            assert text in str(error)

    def test_server_errors_are_unavailable(
        self, provider_api: Any, server_error: Answer, lookup: str
    ) -> None:
        error = self.raised(provider_api, server_error, lookup, MapUnavailable)
        for text in server_error.says:
            assert text in str(error)

    def test_an_error_answer_that_quotes_the_secret_does_not_show_it(
        self, provider_api: Any, error_answer: Answer, lookup: str
    ) -> None:
        if not self.secrets():
            pytest.skip(f"{self.provider.name}'s settings hold no secret")
        for secret in self.secrets():
            self.raised(provider_api, error_answer.quoting(secret), lookup, MapError)

    @pytest.mark.parametrize(
        "transport_error", [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.ConnectError]
    )
    def test_a_timeout_or_a_failed_connection_is_unavailable(
        self, provider_api: Any, lookup: str, transport_error: type[httpx.TransportError]
    ) -> None:
        """The transport error quotes the request (its URL and headers carry the key): the
        error says what happened, without it, and is not chained to it."""

        def fail(request: httpx.Request) -> httpx.Response:
            raise transport_error(f"failed: {request.url} {dict(request.headers)}", request=request)

        error = self.raised(provider_api, fail, lookup, MapUnavailable)
        assert transport_error.__name__ in str(error)

    def test_a_body_that_is_not_json_is_unavailable(self, provider_api: Any, lookup: str) -> None:
        error = self.raised(provider_api, Answer(text=self.non_json), lookup, MapUnavailable)
        assert "non-JSON" in str(error)

    @pytest.mark.parametrize("body", NOT_OBJECTS.values(), ids=NOT_OBJECTS.keys())
    def test_json_that_is_no_object_is_unavailable(
        self, provider_api: Any, lookup: str, body: str
    ) -> None:
        self.raised(provider_api, Answer(text=body), lookup, MapUnavailable)

    def test_a_geocode_it_cannot_read_is_unavailable(
        self, provider_api: Any, wrong_shape: Answer
    ) -> None:
        self.raised(provider_api, wrong_shape, "geocode", MapUnavailable)

    def test_a_reverse_answer_it_cannot_read_is_unavailable(
        self, provider_api: Any, reverse_wrong_shape: Answer
    ) -> None:
        self.raised(provider_api, reverse_wrong_shape, "reverse", MapUnavailable)

    # -- settings --------------------------------------------------------------------------

    def test_without_credentials_it_refuses_without_a_call(
        self, provider_api: Any, unconfigured_settings: MapProviderSettings, lookup: str
    ) -> None:
        client, api = provider_api(self.lookup_of(lookup).answer)

        assert self.provider.configured(self.settings)
        assert not self.provider.configured(unconfigured_settings)
        with pytest.raises(MapRefused) as raised:
            self.ask(lookup, client, unconfigured_settings)

        assert api.requests == []
        # Where to set it: the section, and the key of a section that has one.
        section = f"[maps.{self.provider.name}]"
        if isinstance(unconfigured_settings, ApiKeySettings):
            section += " key"
        assert section in str(raised.value)

    def test_settings_keep_secrets_out_of_sight_and_refuse_unknown_keys(self) -> None:
        assert not self.leaks(repr(self.settings))
        assert not self.leaks(str(self.settings))
        values = self.settings.model_dump()
        with pytest.raises(pydantic.ValidationError):
            type(self.settings).model_validate({**values, "no_such_setting": "x"})

    # -- the plugin ------------------------------------------------------------------------

    def test_the_plugin_registers_the_provider(
        self, plugin_manager: Any, register_plugin: Callable[[Any], str]
    ) -> None:
        hooks = Hooks(plugin_manager)
        if self.provider.name not in hooks.map_providers():
            register_plugin(self.plugin or _package_of(self.provider))
        registered = hooks.map_providers()[self.provider.name]

        assert type(registered) is type(self.provider)
        assert registered.datum is self.provider.datum
        assert isinstance(registered.datum, Datum)
        assert registered.settings_model is type(self.settings)


def _quoting(value: Any, secret: str) -> Any:
    if isinstance(value, str):
        return f"{value} {secret}"
    if isinstance(value, dict):
        return {name: _quoting(item, secret) for name, item in value.items()}
    if isinstance(value, list):
        return [_quoting(item, secret) for item in value]
    return value


def _named(answers: Sequence[Answer], kind: str = "") -> dict[str, Answer]:
    """The answers by test id: their names, numbered where they have none.

    :raises ValueError: for two answers of one name, one of which would go untested.
    """
    named = {
        " ".join(filter(None, (kind, answer.name or str(number)))): answer
        for number, answer in enumerate(answers, 1)
    }
    if len(named) < len(answers):
        raise ValueError(f"two answers have one name in {[a.name for a in answers]}")
    return named


def _given(settings: MapProviderSettings) -> str:
    """A test id for a section by what it was given: ``given key_id``, ``empty section``."""
    given = sorted(settings.model_fields_set)
    return f"given {', '.join(given)}" if given else "empty section"


def _package_of(provider: MapProvider) -> Any:
    module = type(provider).__module__
    package = module.rpartition(".")[0]
    return importlib.import_module(package or module)
