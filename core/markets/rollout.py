"""Rollout readiness: what a market still lacks before it goes live.

Checks come through the ``register_rollout_checks`` hook: the core's are here, registered
as an ordinary plugin, and packs and plugins add their own. Each says ``pass``, ``warn`` or
``fail`` for one market, with the reason and the fix; ``regiocrm rollout check`` exits 1 on
any ``fail``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from holidays import HolidayBase
from sqlalchemy.exc import DBAPIError

from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.data_classes import DataClass

# Re-exported: the check contract lived here before it moved to regiocrm.interfaces.
from regiocrm.interfaces.rollout import Finding as Finding
from regiocrm.interfaces.rollout import Outcome as Outcome
from regiocrm.interfaces.rollout import RolloutCheck as RolloutCheck
from regiocrm.interfaces.rollout import Target as Target
from regiocrm.markets.tracking import Standing, TrackingError, check, market_project
from regiocrm.messaging.polling import poll_states, polled_accounts
from regiocrm.models.base import utcnow
from regiocrm.platform.i18n import _, core_catalogs, untranslated
from regiocrm.platform.migrations import Migrator
from regiocrm.platform.stores import ZoneStores
from regiocrm.residency.storage import Storage


def run_checks(target: Target) -> list[Finding]:
    """Every registered check's findings for the target's market, in registration order."""
    return [finding for check in target.hooks.rollout_checks() for finding in check.run(target)]


def _unchecked(check: str) -> Finding:
    return Finding(
        check,
        Outcome.FAIL,
        _("cannot be checked while the settings are invalid"),
        _("fix the settings first (see the settings check)"),
    )


def settings_valid(target: Target) -> Iterable[Finding]:
    if target.settings_error is not None:
        yield Finding(
            "settings",
            Outcome.FAIL,
            str(target.settings_error),
            _("correct each key named, then run `regiocrm config check`"),
        )
    else:
        yield Finding("settings", Outcome.PASS, _("the settings are valid"))


def channel_credentials(target: Target) -> Iterable[Finding]:
    """Each of the pack's channels needs an account of the market, with its credentials
    (which the settings validate)."""
    if target.settings is None:
        yield _unchecked("channels")
        return
    installed = target.hooks.channels()
    accounts = target.settings.channel_accounts.values()
    for channel in target.pack.channels:
        check = f"channel {channel}"
        if channel not in installed:
            yield Finding(
                check,
                Outcome.WARN,
                _("no installed plugin provides the channel {channel}").format(channel=channel),
                _("install its plugin, or leave it out of the pack's channels"),
            )
            continue
        if any(a.channel == channel and a.market == target.market for a in accounts):
            yield Finding(check, Outcome.PASS, _("an account with its credentials is configured"))
            continue
        keys = ", ".join(
            name
            for name, field in installed[channel].account_settings.model_fields.items()
            if field.is_required() and name not in ("channel", "market")
        )
        yield Finding(
            check,
            Outcome.FAIL,
            _("no {channel} account for {market}: its credentials are missing").format(
                channel=channel, market=target.market
            ),
            _(
                "add [channel_accounts.<name>] with channel = {channel!r}, market ="
                " {market!r} and its credentials: {keys}"
            ).format(channel=channel, market=target.market, keys=keys),
        )


def mailboxes_reachable(target: Target) -> Iterable[Finding]:
    """Each polled account of the market (an IMAP mailbox) answered the worker's last
    poll: what ``regiocrm worker`` recorded, read from the zones."""
    if target.settings is None or target.stores is None:
        yield _unchecked("mailboxes")
        return
    accounts = [
        account
        for _channel, account in polled_accounts(target.hooks.channel_registry(target.settings))
        if account.market == target.market
    ]
    if not accounts:
        return
    try:
        states = poll_states(target.stores, accounts)
    except DBAPIError as exc:
        yield Finding(
            "mailboxes",
            Outcome.WARN,
            _("not checked: the zones cannot be read ({reason})").format(reason=exc.orig),
            _("run `regiocrm db upgrade`, then check again"),
        )
        return
    for state in states:
        check = f"mailbox {state.account}"
        if state.error is not None:
            yield Finding(
                check,
                Outcome.WARN,
                _("unreachable since {since}: {reason}").format(
                    since=_moment(state.failing_since), reason=state.error
                ),
                _("correct the account's [imap] settings or the server; polling resumes by itself"),
            )
        elif state.polled_at is None:
            yield Finding(
                check,
                Outcome.WARN,
                _("not polled yet"),
                _("run `regiocrm inbox poll {account}`, then start `regiocrm worker`").format(
                    account=state.account
                ),
            )
        else:
            yield Finding(
                check,
                Outcome.PASS,
                _("polled at {at}").format(at=_moment(state.polled_at)),
            )


def _moment(at: datetime | None) -> str:
    return "?" if at is None else at.strftime("%Y-%m-%d %H:%M UTC")


def zones_ready(target: Target) -> Iterable[Finding]:
    """The home zone and every zone the market's data is placed in: reachable and
    migrated to the heads."""
    if target.stores is None:
        yield _unchecked("zones")
        return
    residency = target.stores.residency
    zones = {residency.home, *_placed(target.stores, target.market).values()}
    migrator = Migrator(target.stores, target.hooks)
    for zone in sorted(zones):
        state = migrator.state(zone)
        if not state.reachable:
            yield Finding(
                f"zone {zone}",
                Outcome.FAIL,
                _("unreachable: {error}").format(error=state.error),
                _("check the zone's URL ([zones] {zone}) and that its database runs").format(
                    zone=zone
                ),
            )
        elif not state.migrated:
            yield Finding(
                f"zone {zone}",
                Outcome.FAIL,
                _("not migrated to the heads: {pending} pending").format(
                    pending=", ".join(state.pending)
                ),
                _("run `regiocrm db upgrade`"),
            )
        else:
            yield Finding(f"zone {zone}", Outcome.PASS, _("reachable and migrated"))


def residency_placed(target: Target) -> Iterable[Finding]:
    """Every data class of the registered entities has a placement the market's rules
    allow."""
    if target.stores is None:
        yield _unchecked("residency")
        return
    for data_class in _unplaced(target.stores, target.market):
        yield Finding(
            f"residency {data_class.value}",
            Outcome.FAIL,
            _("no rule of the market's pack places {data_class} data").format(
                data_class=data_class.value
            ),
            _("add a rule for it to the pack, or do not install the plugin that brings it"),
        )
    summary = ", ".join(
        f"{dc.value} → {zone}" for dc, zone in _placed(target.stores, target.market).items()
    )
    yield Finding("residency", Outcome.PASS, summary)


def _placed(stores: ZoneStores, market: str) -> dict[DataClass, str]:
    """Where the market's data classes are kept, of those its pack's rules place."""
    return {
        data_class: stores.residency.zone_for(market, data_class)
        for data_class in stores.entities.data_classes()
        if (market, data_class) in stores.residency.rules
    }


def _unplaced(stores: ZoneStores, market: str) -> list[DataClass]:
    """The registered classes no rule of the market's pack places: one a plugin's entity
    brings, which another market's pack places."""
    return [
        dc for dc in stores.entities.data_classes() if (market, dc) not in stores.residency.rules
    ]


def translations_complete(target: Target) -> Iterable[Finding]:
    """Every language of the market has every message translated (the core's and the
    plugins' catalogs together)."""
    folders = (core_catalogs(), *target.hooks.catalog_folders().values())
    for locale in dict.fromkeys((target.profile.locale, *target.pack.locales)):
        missing, total = untranslated(locale, folders)
        check = f"translations {locale}"
        if missing:
            yield Finding(
                check,
                Outcome.FAIL,
                _("{missing} of {total} messages are not translated").format(
                    missing=len(missing), total=total
                ),
                _(
                    "translate the pack's catalog for {locale} (locale/…/regiocrm.po), compile"
                    " it, and run `regiocrm translations check`"
                ).format(locale=locale),
            )
        else:
            yield Finding(check, Outcome.PASS, _("every message is translated"))


def map_chain(target: Target) -> Iterable[Finding]:
    """The market's map providers: installed, configured, one of them offline."""
    providers = target.hooks.map_providers()
    chain = [providers[name] for name in target.pack.map_providers if name in providers]
    for name in target.pack.map_providers:
        if name not in providers:
            yield Finding(
                f"maps {name}",
                Outcome.WARN,
                _("no installed plugin provides the map provider {name}").format(name=name),
                _("install its plugin, or leave it out of the pack's map providers"),
            )
    if target.settings is not None:
        for provider in chain:
            section = getattr(target.settings.maps, provider.name, None)
            if not provider.offline and not provider.configured(section):
                yield Finding(
                    f"maps {provider.name}",
                    Outcome.WARN,
                    _("not configured: the chain passes over it"),
                    _("add its key under [maps.{name}]").format(name=provider.name),
                )
    if any(provider.offline for provider in chain):
        yield Finding(
            "maps",
            Outcome.PASS,
            _("the chain ends with a provider that needs no network: {chain}").format(
                chain=" → ".join(target.pack.map_providers)
            ),
        )
    else:
        yield Finding(
            "maps",
            Outcome.FAIL,
            _("no provider of the chain works without the network"),
            _("end the pack's map providers with 'gazetteer'"),
        )


def calendar_holidays(target: Target) -> Iterable[Finding]:
    """Service-level clocks need the public holidays of this year and the next."""
    holidays = target.hooks.business_calendar(market=target.market).public_holidays
    this_year = date.today().year
    for year in (this_year, this_year + 1):
        days = [] if holidays is None else _holidays_in(holidays, year)
        if days:
            yield Finding(
                f"holidays {year}",
                Outcome.PASS,
                _("{count} public holidays").format(count=len(days)),
            )
        else:
            yield Finding(
                f"holidays {year}",
                Outcome.FAIL,
                _("no public holidays known for {market} in {year}").format(
                    market=target.market, year=year
                ),
                _(
                    "give the market a holiday_subdivision the holidays library knows, or"
                    " implement the business_calendar hook"
                ),
            )


def _holidays_in(holidays: HolidayBase, year: int) -> list[date]:
    # The holidays library fills a year in when a day of it is first asked about.
    holidays.get(date(year, 1, 1))
    return [day for day in holidays if day.year == year]


def storage_quotas(target: Target) -> Iterable[Finding]:
    """No organization of the market runs out of storage within ``[storage]
    warn_within_days`` at its recent growth."""
    if target.stores is None or target.settings is None:
        yield _unchecked("storage")
        return
    if not all(state.migrated for state in Migrator(target.stores, target.hooks).states()):
        yield Finding(
            "storage",
            Outcome.WARN,
            _("not measured: the zones are not all migrated"),
            _("run `regiocrm db upgrade`"),
        )
        return
    settings = target.settings.storage
    today = utcnow().date()
    forecasts = [
        forecast
        for forecast in Storage(target.stores, target.hooks, settings).forecasts(today)
        if forecast.market == target.market
    ]
    soon = [
        # A quota used up by data older than the window has no class growing: its fix
        # archives the largest.
        (forecast, days, forecast.fastest_growing or forecast.largest)
        for forecast in forecasts
        if (days := forecast.days_left(today)) is not None and days <= settings.warn_within_days
    ]
    for forecast, days, fastest in soon:
        assert fastest is not None, "a quota runs out only for an organization storing data"
        yield Finding(
            f"storage {forecast.organization}",
            Outcome.WARN,
            _(
                "its {tier} quota of {quota:,.0f} MiB runs out on {day} ({days} days) at"
                " {growth:,.1f} MiB a day, {fastest} growing fastest"
            ).format(
                tier=forecast.tier.value,
                quota=forecast.quota_mib,
                day=forecast.runs_out_on,
                days=days,
                growth=forecast.total_growth_mib_per_day,
                fastest=fastest.value,
            ),
            _(
                "raise its quota ([storage.quotas_mib] {name!r}), give it a full licence,"
                " or archive older {fastest} data"
            ).format(name=forecast.organization, fastest=fastest.value),
        )
    if not soon:
        yield Finding(
            "storage",
            Outcome.PASS,
            _("no quota of the market's {count} organizations runs out within {days} days").format(
                count=len(forecasts), days=settings.warn_within_days
            ),
        )


def template_followed(target: Target) -> Iterable[Finding]:
    """A market generated from a template (its pack installed from its folder) is not
    behind the template: a fix the template gained is in the market before it goes live."""
    project = market_project(target.hooks, target.pack.code)
    if project is None:
        return
    try:
        status = check(project)
    except TrackingError as exc:
        yield Finding(
            "template",
            Outcome.WARN,
            _("cannot tell whether the market follows its template: {reason}").format(reason=exc),
            _("make the template reachable, then run `regiocrm market check {path}`").format(
                path=project
            ),
        )
        return
    if status.standing is Standing.BEHIND:
        yield Finding(
            "template",
            Outcome.WARN,
            _("behind its template by {count} commits (version {version} → {latest})").format(
                count=len(status.commits),
                version=status.version or "?",
                latest=status.latest_version or "?",
            ),
            _("run `regiocrm market update {path}`, then the market's tests").format(path=project),
        )
    else:
        yield Finding(
            "template",
            Outcome.PASS,
            _("{status} with its template (version {version})").format(
                status=status.standing.value, version=status.version or "?"
            ),
        )


@hookimpl
def register_rollout_checks() -> list[RolloutCheck]:
    return [
        RolloutCheck("settings", settings_valid),
        RolloutCheck("channels", channel_credentials),
        RolloutCheck("mailboxes", mailboxes_reachable),
        RolloutCheck("zones", zones_ready),
        RolloutCheck("residency", residency_placed),
        RolloutCheck("translations", translations_complete),
        RolloutCheck("maps", map_chain),
        RolloutCheck("holidays", calendar_holidays),
        RolloutCheck("storage", storage_quotas),
        RolloutCheck("template", template_followed),
    ]
