"""Event sources without a broker: the hook and its settings, what a message's payload holds,
the runner that keeps a failing source going and stops it cleanly, and the worker's help.
(The MQTT and JetStream sources against real brokers: tests/integration.)"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
from event_streams import MemorySink, payload, running_source
from pydantic import SecretStr

from regiocrm import EventSource, EventSourceSettings, SourceControl, hookimpl
from regiocrm.interfaces.event_sources import Backoff, events_of
from regiocrm.platform.hooks import Hooks, PluginConflict
from regiocrm.platform.settings import SettingsError, load_settings
from regiocrm.services.event_sources import SourceRunner, configured_sources

VIN = "LSVAU2180N2183294"


class MemorySettings(EventSourceSettings):
    kind: Literal["memory"]
    messages: tuple[str, ...] = ()
    secret: SecretStr | None = None


class MemorySource(EventSource):
    """A stream whose messages the settings hold: each delivered in a batch of its own, and
    ``acked`` once the sink returned. ``crash`` makes the first run raise."""

    kind = "memory"
    settings_model = MemorySettings
    crash: ClassVar[bool] = False

    def __init__(self) -> None:
        self.acked: list[str] = []
        self.runs = 0

    def run(self, settings: Any, control: SourceControl) -> None:
        self.runs += 1
        if self.crash and self.runs == 1:
            raise RuntimeError("a bug in the plugin")
        control.connected()
        for message in settings.messages[len(self.acked) :]:
            events, problems = events_of(message.encode())
            for problem in problems:
                control.rejected("a message", problem)
            control.deliver(events)
            self.acked.append(message)
        control.stopping.wait()


class MemoryPlugin:
    def __init__(self) -> None:
        self.source = MemorySource()

    @hookimpl
    def register_event_sources(self) -> list[EventSource]:
        return [self.source]


def problem_lines(exc: pytest.ExceptionInfo[SettingsError]) -> list[str]:
    return [str(problem) for problem in exc.value.problems]


def test_hook_register_event_sources(
    register_plugin, regiocrm_hooks: Hooks, deployment_dir: Path
) -> None:
    plugin = MemoryPlugin()
    register_plugin(plugin)
    assert {"mqtt", "jetstream", "memory"} <= set(regiocrm_hooks.event_sources())
    messages = [payload(VIN, "e-1").decode(), payload(VIN, "e-2").decode()]
    (deployment_dir / "regiocrm.toml").write_text(
        f'[event_sources.cars]\nkind = "memory"\nmessages = {messages!r}\n'.replace("'", "'''")
    )
    [found] = configured_sources(load_settings(regiocrm_hooks), regiocrm_hooks)
    assert (found.name, found.kind, found.source) == ("cars", "memory", plugin.source)
    sink = MemorySink()
    with running_source(found.source, found.settings, sink) as control:
        sink.wait_stored(2)
    assert set(sink.stored) == {(VIN, "e-1"), (VIN, "e-2")}
    assert plugin.source.acked == messages
    assert control.snapshot().delivered == 2


def test_two_plugins_may_not_register_the_same_kind(register_plugin, regiocrm_hooks: Hooks) -> None:
    register_plugin(MemoryPlugin())
    register_plugin(MemoryPlugin())
    with pytest.raises(PluginConflict, match="'memory'"):
        regiocrm_hooks.event_sources()


def test_sources_are_validated_by_their_kind_with_the_key_named(
    regiocrm_hooks: Hooks, deployment_dir: Path
) -> None:
    config = deployment_dir / "regiocrm.toml"
    config.write_text(
        '[event_sources.cars]\nkind = "mqtt"\ntopic = "vehicles/ab+/events"\n\n'
        '[event_sources.fleet]\nkind = "jetstream"\nservers = ["http://nats"]\n\n'
        '[event_sources.trucks]\nkind = "kafka"\n'
    )
    with pytest.raises(SettingsError) as exc:
        load_settings(regiocrm_hooks)
    lines = problem_lines(exc)
    assert any(
        line.startswith("event_sources.cars.topic: 'vehicles/ab+/events': '+' and '#' must")
        and str(config) in line
        for line in lines
    ), lines
    assert any(line.startswith("event_sources.fleet.servers") for line in lines), lines
    assert any(
        line.startswith("event_sources.trucks: ") and "'mqtt', 'jetstream'" in line
        for line in lines
    ), lines


def test_a_source_s_secrets_are_masked(regiocrm_hooks: Hooks, deployment_dir: Path) -> None:
    (deployment_dir / "regiocrm.toml").write_text(
        '[event_sources.fleet]\nkind = "jetstream"\npassword = "s3cret-nats"\n'
    )
    settings = load_settings(regiocrm_hooks)
    assert "s3cret-nats" in settings.secret_values()
    assert "s3cret-nats" not in str(settings.masked())
    [fleet] = configured_sources(settings, regiocrm_hooks)
    assert fleet.settings.stream == "VEHICLE_EVENTS"
    assert fleet.settings.create is False


def test_sources_with_no_kind_installed_are_refused(deployment_dir: Path) -> None:
    from regiocrm.platform.plugins import get_plugin_manager

    hooks = Hooks(
        get_plugin_manager(
            entry_points=False,
            blocked=["regiocrm.plugins.streams.mqtt", "regiocrm.plugins.streams.jetstream"],
        )
    )
    (deployment_dir / "regiocrm.toml").write_text('[event_sources.cars]\nkind = "mqtt"\n')
    with pytest.raises(SettingsError) as exc:
        load_settings(hooks)
    assert problem_lines(exc) == [
        f"event_sources.cars.kind: no event source plugin is installed or enabled"
        f" ({deployment_dir / 'regiocrm.toml'})"
    ]


def test_a_payload_is_one_event_or_ndjson_lines_and_bad_lines_are_named() -> None:
    events, problems = events_of(payload(VIN, "e-1"))
    assert [e.event_id for e in events] == ["e-1"]
    assert problems == []

    lines = payload(VIN, "e-2") + b"\n\n" + b'{"vin": "nope"}\n' + payload(VIN, "e-3") + b"\n"
    events, problems = events_of(lines)
    assert [e.event_id for e in events] == ["e-2", "e-3"]
    assert problems == ["line 3: vin 'NOPE' is not 17 letters and digits (no I, O or Q)"]

    events, [problem] = events_of(b"\xff\xfe")
    assert events == []
    assert problem.startswith("not JSON: ")
    assert events_of(b"  \n") == ([], ["the message is empty"])
    too_large = payload(VIN, "e-4").replace(b'"odometer_km": 1000', b'"odometer_km": 1e400')
    assert events_of(too_large) == ([], ["payload holds a number that is not finite"])


def test_backoff_grows_to_its_longest_with_jitter_and_resets() -> None:
    backoff = Backoff(first=1, longest=8)
    delays = backoff.delays()
    drawn = [next(delays) for _ in range(6)]
    for delay, ceiling in zip(drawn, [1, 2, 4, 8, 8, 8], strict=True):
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert next(delays) <= 1


def test_a_source_that_crashes_is_started_again_and_nothing_is_acked_twice() -> None:
    source = MemorySource()
    source.crash = True
    settings = MemorySettings(kind="memory", messages=[payload(VIN, "e-1").decode()])
    sink = MemorySink()
    with running_source(source, settings, sink) as control:
        sink.wait_stored(1)
        status = control.snapshot()
    assert source.runs == 2
    assert status.last_error == "RuntimeError: a bug in the plugin"
    assert status.connected
    assert sink.deliveries[(VIN, "e-1")] == 1


def test_a_failing_sink_is_counted_and_raised_so_nothing_is_acked() -> None:
    sink = MemorySink()
    sink.failing = True
    control = SourceControl("cars", "memory", sink)
    events, _ = events_of(payload(VIN, "e-1"))
    with pytest.raises(RuntimeError, match="the database is away"):
        control.deliver(events)
    status = control.snapshot()
    assert (status.failures, status.delivered, status.last_error) == (
        1,
        0,
        "sink: the database is away",
    )


def test_stopping_ends_a_source_waiting_and_disabled_sources_do_not_run() -> None:
    source = MemorySource()
    runner = SourceRunner(
        [
            _configured("on", source, MemorySettings(kind="memory")),
            _configured("off", MemorySource(), MemorySettings(kind="memory", enabled=False)),
        ],
        MemorySink(),
    )
    runner.start()
    assert [s.name for s in runner.sources] == ["on"]
    runner.stop(timeout=10)
    assert not any(t.name.startswith("regiocrm-source-") for t in threading.enumerate())
    assert source.runs == 1


def _configured(name: str, source: EventSource, settings: Any) -> Any:
    from regiocrm.services.event_sources import ConfiguredSource

    return ConfiguredSource(name, source, settings)


def test_worker_help_says_what_it_runs_and_how_it_stops(regiocrm_cli) -> None:
    result = regiocrm_cli("worker", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "--no-sources" in text
    assert "acknowledges a message to its broker only after" in text
    assert "SIGTERM" in text


def test_sources_list_shows_kinds_with_secrets_masked(regiocrm_cli, deployment_dir: Path) -> None:
    (deployment_dir / "regiocrm.toml").write_text(
        '[event_sources.fleet]\nkind = "jetstream"\ntoken = "s3cret-token"\n\n'
        '[event_sources.cars]\nkind = "mqtt"\nenabled = false\n'
    )
    result = regiocrm_cli("sources", "list", "--json")
    assert result.exit_code == 0, result.stdout
    assert "s3cret-token" not in result.stdout

    listed = json.loads(result.stdout)
    assert [(s["name"], s["kind"], s["enabled"]) for s in listed] == [
        ("cars", "mqtt", False),
        ("fleet", "jetstream", True),
    ]
    assert listed[1]["settings"]["token"] == "**********"


def test_sources_list_refuses_a_bad_source_with_exit_2(regiocrm_cli, deployment_dir: Path) -> None:
    (deployment_dir / "regiocrm.toml").write_text('[event_sources.cars]\nkind = "mqtt"\nport = 0\n')
    result = regiocrm_cli("sources", "list")
    assert result.exit_code == 2
    assert "event_sources.cars.port" in result.stdout + result.stderr
