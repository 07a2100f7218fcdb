"""Deployment settings: one root model, a section per plugin, an explicit source order.

Values come from, highest priority first: arguments given in code, ``REGIOCRM_*``
environment variables (``__`` separates nested keys, e.g. ``REGIOCRM_HTTP__PORT``), a ``.env``
file in the working folder, then ``regiocrm.toml`` in the working folder or the file named by
``REGIOCRM_CONFIG``. A wrong value is reported as a :class:`SettingsError` naming each key,
the source it came from and the reason.
"""

from __future__ import annotations

import operator
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as SourceError
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from regiocrm.interfaces.data_classes import DataClass

# Re-exported: the settings contract lived here before it moved to regiocrm.interfaces.
from regiocrm.interfaces.settings import Section as Section
from regiocrm.interfaces.settings import SettingsSection as SettingsSection

if TYPE_CHECKING:
    from regiocrm.interfaces.channels import Channel
    from regiocrm.interfaces.event_sources import EventSource
    from regiocrm.interfaces.maps import MapProvider
    from regiocrm.platform.hooks import Hooks

ENV_PREFIX = "REGIOCRM_"
CONFIG_ENV = "REGIOCRM_CONFIG"
DEFAULT_CONFIG_FILE = "regiocrm.toml"
DOTENV_FILE = ".env"
# Environment variables with our prefix that steer the process rather than hold a setting.
PROCESS_ENV = frozenset({CONFIG_ENV, "REGIOCRM_DISABLED_PLUGINS", "REGIOCRM_TRACE_HOOKS"})
PROCESS_ENV_PREFIXES = ("REGIOCRM_TEST_",)

SUPPORTED_DATABASES = ("sqlite", "postgresql")
ZONE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _zone_name(value: str) -> str:
    if not ZONE_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a zone name: use lower-case letters, digits and '_',"
            " starting with a letter"
        )
    return value


def _database_url(value: str) -> str:
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(f"{value!r} is not a database URL (e.g. sqlite:///var/main.db)") from None
    backend = url.get_backend_name()
    if backend == "postgres":
        backend = "postgresql"
    if backend not in SUPPORTED_DATABASES:
        raise ValueError(
            f"unsupported database {backend!r}: use one of {', '.join(SUPPORTED_DATABASES)}"
        )
    if backend == "postgresql":
        driver = url.drivername.partition("+")[2] or "psycopg"
        if driver != "psycopg":
            raise ValueError(f"unsupported PostgreSQL driver {driver!r}: use psycopg")
        # Named explicitly: SQLAlchemy's default driver differs between releases.
        url = url.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and not url.database:
        raise ValueError("a SQLite zone needs a file path (in-memory databases lose every write)")
    return url.render_as_string(hide_password=False)


ZoneName = Annotated[str, AfterValidator(_zone_name)]
DatabaseUrl = Annotated[str, AfterValidator(_database_url)]


class HttpSettings(Section):
    """``[http]``: where ``regiocrm serve`` listens and what it accepts."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="requests with a larger body are refused (413)"
    )
    max_upload_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="a file uploaded to POST /api/imports larger than this is refused (413);"
        " it is spooled to disk, never held in memory",
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="server processes `regiocrm serve` runs, sharing its port; one suits the"
        " embedded SQLite, whose one writer the processes would take turns at",
    )


class ConsoleSettings(Section):
    """``[console]``: how people sign in to the web console."""

    session_hours: int = Field(
        default=12, ge=1, le=720, description="a console session ends this many hours after sign-in"
    )
    max_failed_attempts: int = Field(
        default=5,
        ge=1,
        description="failed sign-ins per user name, and per address, before more are refused",
    )
    attempt_window_minutes: int = Field(
        default=15, ge=1, le=1440, description="how long a failed sign-in counts against the limit"
    )
    min_password_length: int = Field(
        default=12, ge=8, le=1024, description="the shortest console password accepted"
    )


class DeploymentSettings(Section):
    """``[deployment]``: who runs this installation."""

    organization: str = Field(
        default="Headquarters",
        min_length=1,
        description="the OEM organization users belong to when no other is named",
    )
    market: str = Field(
        default="CN",
        pattern=r"^[A-Z]{2}$",
        description="the ISO 3166-1 alpha-2 market served when none is named; an installed"
        " pack must serve it",
    )

    @field_validator("organization")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("an organization's name cannot be blank")
        return value

    @field_validator("market")
    @classmethod
    def _a_country(cls, value: str) -> str:
        if pycountry.countries.get(alpha_2=value) is None:
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
        return value


MarketCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class CampaignSettings(Section):
    """``[campaigns]``: how fast campaigns send, and how long a reply counts."""

    send_rates: dict[
        Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")], Annotated[float, Field(gt=0)]
    ] = Field(
        default_factory=dict,
        description="channel -> messages per second, below the channel's own limit (e.g."
        " line = 500); channels not named send at the rate their plugin declares",
    )
    reply_window_days: int = Field(
        default=14,
        ge=1,
        le=365,
        description="a member's message within this many days of the campaign's is their reply",
    )


class InboxSettings(Section):
    """``[inbox]``: who processes the inbound messages the webhooks store."""

    process_in_server: bool = Field(
        default=True,
        description="each `regiocrm serve` process also processes the inbox; false where"
        " `regiocrm worker` runs apart and does it",
    )


class ResidencySettings(Section):
    """``[residency]``: where this deployment keeps each market's data, among the zones the
    market's pack allows."""

    placement: dict[MarketCode, dict[DataClass, ZoneName]] = Field(
        default_factory=dict,
        description="market -> data class -> zone, e.g. [residency.placement.CN] crm = 'jp';"
        " unset classes go to the pack's preferred zone",
    )
    restrict: dict[MarketCode, dict[DataClass, Annotated[list[ZoneName], Field(min_length=1)]]] = (
        Field(
            default_factory=dict,
            description="market -> data class -> the only zones allowed from now on, a subset"
            " of the pack's (a law that changed before its pack did)",
        )
    )

    @field_validator("placement", "restrict", mode="before")
    @classmethod
    def _markets_in_capitals(cls, value: Any) -> Any:
        # Environment variable names reach us in lower case: REGIOCRM_RESIDENCY__PLACEMENT__CN__CRM.
        if isinstance(value, Mapping):
            return {str(market).upper(): classes for market, classes in value.items()}
        return value


class StorageSettings(Section):
    """``[storage]``: quotas beyond the packs', and how the forecast looks ahead."""

    quotas_mib: dict[Annotated[str, Field(min_length=1)], Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict,
        description="organization name -> its own quota in MiB, over its licence tier's in"
        " the pack",
    )
    growth_window_days: int = Field(
        default=30, ge=7, le=365, description="the recent days the growth is measured over"
    )
    warn_within_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="`regiocrm rollout check` warns of a quota running out within this many days",
    )


# An HMAC key shorter than SHA-256's block of output would be the weakest link of the hash.
PSEUDONYM_KEY_MIN_LENGTH = 32


class AnalyticsSettings(Section):
    """``[analytics]``: how ``regiocrm analytics export`` pseudonymises what it writes."""

    pseudonym_key: SecretStr | None = Field(
        default=None,
        description="the secret (at least 32 characters) that ids and other person keys are"
        " hashed with (HMAC-SHA256): the same key gives the same hashes in every export;"
        " unset, the export refuses to run. Make one with"
        " `python -c 'import secrets; print(secrets.token_urlsafe(32))'`",
    )

    @field_validator("pseudonym_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < PSEUDONYM_KEY_MIN_LENGTH:
            raise ValueError(
                f"a pseudonym key needs at least {PSEUDONYM_KEY_MIN_LENGTH} characters"
                f" (this one has {len(value.get_secret_value())})"
            )
        return value


class TelematicsSettings(Section):
    """``[telematics]``: vehicle events in, and how long they are kept raw."""

    retention_days: int | None = Field(
        default=None,
        ge=1,
        description="days raw vehicle events are kept before they are summed by day, for every"
        " market; empty: each market's pack decides (telematics_retention_days)",
    )
    max_batch_events: int = Field(
        default=10_000,
        ge=1,
        description="events one POST /api/telematics/events may carry; more is refused (413)",
    )


class RegiocrmSettings(BaseSettings):
    """The root settings of a deployment. Plugin sections are added by :func:`settings_model`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=DOTENV_FILE,
        # A project's .env often holds other tools' variables: only ours are read from it.
        dotenv_filtering="match_prefix",
        extra="forbid",
        allow_inf_nan=False,
    )

    data_dir: Path = Field(default=Path("var"), description="folder of the embedded SQLite zones")
    zones: dict[ZoneName, DatabaseUrl] = Field(
        default_factory=dict,
        description="zone name -> SQLAlchemy URL; empty: one SQLite file under data_dir",
    )
    home_zone: ZoneName = Field(
        default="main", description="the zone holding organizations, users and their tokens"
    )
    deployment: DeploymentSettings = Field(default_factory=DeploymentSettings)
    residency: ResidencySettings = Field(default_factory=ResidencySettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    campaigns: CampaignSettings = Field(default_factory=CampaignSettings)
    inbox: InboxSettings = Field(default_factory=InboxSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    telematics: TelematicsSettings = Field(default_factory=TelematicsSettings)
    maps: Section = Field(
        default_factory=Section,
        description="one table per installed map provider: [maps.<provider>]",
    )
    channel_accounts: dict[str, Any] = Field(
        default_factory=dict,
        description="account name -> its channel, market and credentials; each channel's"
        " plugin validates its own accounts",
    )
    event_sources: dict[str, Any] = Field(
        default_factory=dict,
        description="source name -> its kind (mqtt, jetstream, a plugin's) and that kind's"
        " settings; `regiocrm worker` runs each",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            _EnvSource(settings_cls),
            _DotEnvSource(settings_cls),
            TomlConfigSettingsSource(settings_cls, toml_file=config_file()),
        )

    @field_validator("zones")
    @classmethod
    def _one_database_per_zone(cls, value: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for name, url in value.items():
            if url in seen:
                raise ValueError(
                    f"zones {seen[url]!r} and {name!r} name the same database: residency"
                    " needs one database per zone"
                )
            seen[url] = name
        return value

    @field_validator("home_zone")
    @classmethod
    def _home_zone_is_configured(cls, value: str, info: ValidationInfo) -> str:
        zones = info.data.get("zones")
        if zones and value not in zones:
            raise ValueError(f"{value!r} is not a configured zone (zones: {', '.join(zones)})")
        return value

    def zone_urls(self, embedded: Iterable[str] = ()) -> dict[str, URL]:
        """Every configured zone and its URL. With none configured, the embedded default:
        a SQLite file under ``data_dir`` for the home zone and each of ``embedded`` (the
        zones the residency placements name).
        """
        if self.zones:
            return {name: make_url(url) for name, url in self.zones.items()}
        names = dict.fromkeys([self.home_zone, *sorted(embedded)])
        return {
            name: make_url(f"sqlite:///{(self.data_dir / f'{name}.db').absolute()}")
            for name in names
        }

    def masked(self, zone_urls: Mapping[str, URL] | None = None) -> dict[str, Any]:
        """The settings as JSON-ready data with every secret and database password masked.

        :param zone_urls: the zones in use (the embedded default's included); default the
            configured ones.
        """
        data = self.model_dump(mode="json")
        urls = self.zone_urls() if zone_urls is None else zone_urls
        data["zones"] = {
            name: url.render_as_string(hide_password=True) for name, url in urls.items()
        }
        return data

    def secret_values(self) -> set[str]:
        """Every secret the settings hold, in clear: each ``SecretStr`` (plugin sections and
        channel accounts included) and each zone's database password. What no log may show.
        """
        passwords = {url.password for url in self.zone_urls().values() if url.password}
        return passwords | set(_secrets_in(self))


def _secrets_in(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secrets_in(getattr(value, name))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _secrets_in(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _secrets_in(item)


class _Undecodable(ValueError):
    """A variable's value that a table or list setting cannot be read from."""

    def __init__(self, problem: SettingsProblem) -> None:
        self.problem = problem
        super().__init__(str(problem))


def _decoded(
    decode: Callable[[str, FieldInfo, Any], Any],
    source: EnvSettingsSource,
    label: str,
    field: tuple[str, FieldInfo],
    value: Any,
) -> Any:
    """A table or list setting's JSON value, or the variable named with why it is not one
    (the decoder's own recursion limit included, which is no ValueError)."""
    try:
        return decode(*field, value)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        variable = next(
            (name for name, given in source.env_vars.items() if given == value), field[0]
        ).upper()
        key = variable.removeprefix(ENV_PREFIX).lower().replace("__", ".")
        where = f"environment variable {variable}" if label == "environment" else label
        raise _Undecodable(SettingsProblem(key, where, f"not valid JSON: {reason}")) from None


class _EnvSource(EnvSettingsSource):
    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        decode = super().decode_complex_value
        return _decoded(decode, self, "environment", (field_name, field), value)


class _DotEnvSource(DotEnvSettingsSource):
    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        decode = super().decode_complex_value
        return _decoded(decode, self, str(Path(DOTENV_FILE).absolute()), (field_name, field), value)


@dataclass(frozen=True)
class SettingsProblem:
    key: str
    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.key}: {self.reason} ({self.source})"


class SettingsError(Exception):
    """Settings that cannot be used, with one problem per wrong key."""

    def __init__(self, problems: Iterable[SettingsProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def config_file() -> Path:
    """The TOML file settings are read from: ``$REGIOCRM_CONFIG`` or ``./regiocrm.toml``."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE)


def _config_file_label() -> str:
    named_by = f", named by {CONFIG_ENV}" if os.environ.get(CONFIG_ENV) else ""
    return f"{config_file().absolute()}{named_by}"


ACCOUNT_NAME = r"^[a-z][a-z0-9_-]{0,63}$"


def settings_model(
    sections: Iterable[SettingsSection] = (),
    channels: Iterable[Channel] = (),
    map_providers: Iterable[MapProvider] = (),
    event_sources: Iterable[EventSource] = (),
) -> type[RegiocrmSettings]:
    """The root settings model extended with the plugins' sections, with the channel
    accounts validated by their channels' own models (told apart by their ``channel``), the
    event sources by their kinds' (told apart by their ``kind``), and with a
    ``[maps.<provider>]`` table per map provider."""
    fields: dict[str, Any] = {}
    sections_of_maps: dict[str, Any] = {
        provider.name: (provider.settings_model, Field(default_factory=provider.settings_model))
        for provider in map_providers
    }
    if sections_of_maps:
        maps = create_model("MapsSettings", __base__=Section, **sections_of_maps)
        fields["maps"] = (maps, Field(default_factory=maps))
    account_models = tuple(channel.account_settings for channel in channels)
    if account_models:
        account: Any = (
            account_models[0]
            if len(account_models) == 1
            else Annotated[reduce(operator.or_, account_models), Field(discriminator="channel")]
        )
        fields["channel_accounts"] = (
            dict[Annotated[str, Field(pattern=ACCOUNT_NAME)], account],
            Field(default_factory=dict),
        )
    source_models = tuple(source.settings_model for source in event_sources)
    if source_models:
        source: Any = (
            source_models[0]
            if len(source_models) == 1
            else Annotated[reduce(operator.or_, source_models), Field(discriminator="kind")]
        )
        fields["event_sources"] = (
            dict[Annotated[str, Field(pattern=ACCOUNT_NAME)], source],
            Field(default_factory=dict),
        )
    for section in sections:
        if section.name in RegiocrmSettings.model_fields or section.name in fields:
            raise SettingsError(
                [
                    SettingsProblem(
                        section.name,
                        f"plugin section {section.model.__name__}",
                        "this section name is already taken",
                    )
                ]
            )
        required = any(f.is_required() for f in section.model.model_fields.values())
        default = ... if required else Field(default_factory=section.model)
        fields[section.name] = (section.model, default)
    if not fields:
        return RegiocrmSettings
    return create_model("RegiocrmSettings", __base__=RegiocrmSettings, **fields)


def load_settings(hooks: Hooks | None = None, **values: Any) -> RegiocrmSettings:
    """Read the settings from every source, with the sections the plugins contribute.

    :param hooks: where plugin sections come from; ``None`` reads only the core settings.
    :param values: values given in code; they win over every other source.
    :raises SettingsError: naming each wrong key, its source and the reason.
    """
    channels = list(hooks.channels().values()) if hooks is not None else []
    source_kinds = list(hooks.event_sources().values()) if hooks is not None else []
    model = (
        settings_model(
            hooks.settings_sections(),
            channels,
            hooks.map_providers().values(),
            source_kinds,
        )
        if hooks is not None
        else RegiocrmSettings
    )
    _check_config_file()
    _check_environment(model)
    try:
        settings = model(**values)
    except ValidationError as exc:
        raise SettingsError(_explain(exc, model, values)) from None
    except SourceError as exc:
        if isinstance(exc.__cause__, _Undecodable):
            raise SettingsError([exc.__cause__.problem]) from None
        raise SettingsError([SettingsProblem("settings", "environment", str(exc))]) from None
    _check_data_dir(settings, model, values)
    if settings.channel_accounts:
        _check_channel_accounts(settings, model, values, hooks if channels else None)
    if settings.event_sources and not source_kinds:
        _no_source_kinds(settings, model, values)
    if hooks is not None:
        _check_market(settings, model, values, hooks)
        _check_residency(settings, model, values, hooks)
    return settings


def _check_data_dir(
    settings: RegiocrmSettings, model: type[RegiocrmSettings], values: Mapping[str, Any]
) -> None:
    """The embedded zones' folder must be one, or be creatable: a file in its place (or in
    the place of a folder above it) would fail every command that opens a zone."""
    if settings.zones:
        return
    folder = settings.data_dir.absolute()
    try:
        existing = next(path for path in (folder, *folder.parents) if path.exists())
        reason = None if existing.is_dir() else f"{existing} is not a folder"
    except OSError as exc:
        reason = f"cannot look into {exc.filename}: {exc.strerror}"
    if reason is not None:
        source = _source_of(["data_dir"], _sources(model, values))
        raise SettingsError([SettingsProblem("data_dir", source, reason)])


def _check_market(
    settings: RegiocrmSettings,
    model: type[RegiocrmSettings],
    values: Mapping[str, Any],
    hooks: Hooks,
) -> None:
    """The deployment's own market must be served by an installed pack: the settings model
    alone cannot know the packs, so this is checked where they are loaded."""
    from regiocrm.interfaces.packs import PackError

    try:
        hooks.packs().for_market(settings.deployment.market)
    except PackError as exc:
        path = ["deployment", "market"]
        raise SettingsError(
            [SettingsProblem(".".join(path), _source_of(path, _sources(model, values)), str(exc))]
        ) from None


def _check_residency(
    settings: RegiocrmSettings,
    model: type[RegiocrmSettings],
    values: Mapping[str, Any],
    hooks: Hooks,
) -> None:
    """Placements and restrictions must keep to the packs' rules and name zones that exist,
    and every entity's class must be one some pack places."""
    from regiocrm.interfaces.packs import PackError
    from regiocrm.platform.entities import EntityError
    from regiocrm.residency.rules import Residency, ResidencyConfigError

    try:
        Residency.build(hooks.packs(), settings)
        hooks.entities()
    except PackError as exc:
        raise SettingsError([SettingsProblem("packs", "installed plugins", str(exc))]) from None
    except EntityError as exc:
        raise SettingsError([SettingsProblem("plugins", "installed plugins", str(exc))]) from None
    except ResidencyConfigError as exc:
        sources = _sources(model, values)
        raise SettingsError(
            SettingsProblem(".".join(p.key), _source_of(list(p.key), sources), p.reason)
            for p in exc.problems
        ) from None


def _no_source_kinds(
    settings: RegiocrmSettings, model: type[RegiocrmSettings], values: Mapping[str, Any]
) -> None:
    """Sources configured where no plugin registers any kind: none of them could run."""
    sources = _sources(model, values)
    raise SettingsError(
        SettingsProblem(
            f"event_sources.{name}.kind",
            _source_of(["event_sources", name], sources),
            "no event source plugin is installed or enabled",
        )
        for name in settings.event_sources
    )


def _check_channel_accounts(
    settings: RegiocrmSettings,
    model: type[RegiocrmSettings],
    values: Mapping[str, Any],
    hooks: Hooks | None,
) -> None:
    """Every account's market must be served by a pack; with no channel plugin at all, no
    account can be served."""
    from regiocrm.interfaces.packs import PackError

    sources = _sources(model, values)
    problems = []
    for name, account in settings.channel_accounts.items():
        if hooks is None:
            path = ["channel_accounts", name, "channel"]
            reason = "no channel plugin is installed or enabled"
        else:
            path = ["channel_accounts", name, "market"]
            try:
                hooks.packs().for_market(account.market)
                continue
            except PackError as exc:
                reason = str(exc)
        problems.append(SettingsProblem(".".join(path), _source_of(path, sources), reason))
    if problems:
        raise SettingsError(problems)


def _check_config_file() -> None:
    path = config_file()
    if not path.exists():
        if os.environ.get(CONFIG_ENV):
            raise SettingsError(
                [SettingsProblem(CONFIG_ENV, "environment", f"{path} does not exist")]
            )
        return
    try:
        with path.open("rb") as fh:
            tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(
            [SettingsProblem("config file", _config_file_label(), f"not valid TOML: {exc}")]
        ) from None
    except RecursionError:
        problem = SettingsProblem(
            "config file", _config_file_label(), "not valid TOML: nested too deeply"
        )
        raise SettingsError([problem]) from None
    except OSError as exc:
        raise SettingsError(
            [SettingsProblem("config file", _config_file_label(), f"cannot read: {exc.strerror}")]
        ) from None


def _check_environment(model: type[RegiocrmSettings]) -> None:
    problems = []
    for name in sorted(os.environ):
        if (
            not name.startswith(ENV_PREFIX)
            or name in PROCESS_ENV
            or name.startswith(PROCESS_ENV_PREFIXES)
        ):
            continue
        field = name[len(ENV_PREFIX) :].split("__", 1)[0].lower()
        if field not in model.model_fields:
            problems.append(SettingsProblem(name, "environment variable", "unknown setting"))
    if problems:
        raise SettingsError(problems)


def _explain(
    exc: ValidationError, model: type[RegiocrmSettings], values: Mapping[str, Any]
) -> list[SettingsProblem]:
    sources = _sources(model, values)
    problems = []
    for error in exc.errors():
        path = _without_union_tag([str(part) for part in error["loc"]])
        key = ".".join(path)
        reason = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            reason = "unknown setting"
        if error["type"] == "missing":
            env_name = ENV_PREFIX + "__".join(path).upper()
            problems.append(
                SettingsProblem(
                    key, f"not set: add it to {_config_file_label()} or set {env_name}", "required"
                )
            )
            continue
        lookup = [part for part in path if part != "[key]"]
        problems.append(SettingsProblem(key, _source_of(lookup, sources), reason))
    return problems


def _without_union_tag(path: list[str]) -> list[str]:
    """The key as the user writes it: pydantic puts the channel's name between an account
    and its field (``channel_accounts.wx.wechat.token``), which no TOML file or variable has.
    """
    if len(path) >= 4 and path[0] in ("channel_accounts", "event_sources"):
        return [*path[:2], *path[3:]]
    return path


def _sources(
    model: type[RegiocrmSettings], values: Mapping[str, Any]
) -> list[tuple[str, Mapping[str, Any]]]:
    """Each settings source's raw values, highest priority first, to tell where a key came from."""
    return [
        ("given in code", InitSettingsSource(model, init_kwargs=dict(values))()),
        ("environment variable", EnvSettingsSource(model)()),
        (f"{Path(DOTENV_FILE).absolute()}", DotEnvSettingsSource(model, env_file=DOTENV_FILE)()),
        (_config_file_label(), TomlConfigSettingsSource(model, toml_file=config_file())()),
    ]


def _source_of(path: list[str], sources: list[tuple[str, Mapping[str, Any]]]) -> str:
    for label, data in sources:
        node: Any = data
        for part in path:
            # Markets are written in capitals; environment variables arrive in lower case.
            key = (
                next((k for k in node if str(k).lower() == part.lower()), None)
                if isinstance(node, Mapping)
                else None
            )
            if key is None:
                break
            node = node[key]
        else:
            if label == "environment variable":
                return f"environment variable {_variable_of(path)}"
            return label
    return "default"


def _variable_of(path: list[str]) -> str:
    """The variable a key came from: its own (``REGIOCRM_HTTP__PORT``), or the one holding
    the table it is in (``REGIOCRM_STORAGE__QUOTAS_MIB='{"Acme": 1}'``)."""
    names = [ENV_PREFIX + "__".join(path[:depth]).upper() for depth in range(len(path), 0, -1)]
    return next((name for name in names if name in os.environ), names[0])
