"""LINE webhooks acknowledged per second by ``regiocrm serve`` under wrk's load, against a
raw reference server on the same uvicorn and the same kind of database in the same run.

    python benchmarks/webhooks_load.py                 # SQLite only (about a minute)
    python benchmarks/webhooks_load.py --postgres      # SQLite, PostgreSQL, then two machines
    python benchmarks/webhooks_load.py --postgres postgresql+psycopg://postgres@host/test
    python benchmarks/webhooks_load.py --only topology # the two machines alone

Every server gets a fresh database. ``regiocrm serve`` runs as a user runs it: a deployment
folder with one LINE account (``line_jp``) in a ``jp`` zone, ``regiocrm db upgrade``, then
the real process on a free loopback port. The raw reference (``raw_app`` below, run by
``uvicorn --factory``, with 1 and 2 worker processes) is uvicorn and Starlette doing only
what a webhook must: check the LINE signature (HMAC-SHA256 of the body, base64, header
``x-line-signature``), insert the body into a table and commit, on an engine made as
regiocrm makes its zones' engines.

The load is wrk (Debian's package ``wrk``) on loopback, posting pre-signed LINE webhook
bodies, each a different message, from a file its Lua script cycles through; its ``done()``
prints the figures as JSON. After the load, the time from wrk's end (the last ack) until no
message in regiocrm's inbox is waiting to be processed. CPU seconds per process during the
load say what bounds each server: a server near 1.0 core per process is bound by Python.

The topology (on PostgreSQL) stands for several machines behind a load balancer: two
``regiocrm serve`` processes on two ports, each run from its own folder holding the same
``regiocrm.toml`` (so nothing on a local disk is shared), against one PostgreSQL zone, with
``[inbox] process_in_server = false`` and one ``regiocrm worker`` (from a third folder), then
without the worker, each server processing the inbox. The balancer is two wrk processes at
once, one per server, each with half the connections and its own half of the bodies. Its
reference is the raw server run twice the same way.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from regiocrm.platform.ids import new_id
from regiocrm.platform.stores import make_engine
from regiocrm.plugins.channels.line.testing import CHANNEL_SECRET, LineDriver
from regiocrm.testing import deployment_environment, scratch_database

DRIVER = LineDriver()
ACCOUNT = "line_jp"
START = datetime(2026, 11, 1, tzinfo=UTC)
HERE = Path(__file__).resolve().parent
RAW_URL_ENV = "WEBHOOKS_LOAD_RAW_URL"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TICKS = os.sysconf("SC_CLK_TCK")

# One Lua state per wrk thread. Arguments: the bodies file, a stride and this wrk's first
# line: its thread n takes every stride-th line from line first + n, so wrk processes run at
# once with disjoint firsts (stride = all their threads) and no two connections post the
# same message. done() runs in wrk's own state, after the load.
LUA = r"""
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  local stride = tonumber(args[2])
  id = id + tonumber(args[3])
  signatures, bodies, n, i = {}, {}, 0, 0
  for line in io.lines(args[1]) do
    if n % stride == id then
      local tab = line:find("\t", 1, true)
      signatures[#signatures + 1] = line:sub(1, tab - 1)
      bodies[#bodies + 1] = line:sub(tab + 1)
    end
    n = n + 1
  end
end
function request()
  i = i % #bodies + 1
  return wrk.format("POST", nil, {
    ["content-type"] = "application/json; charset=utf-8",
    ["x-line-signature"] = signatures[i],
  }, bodies[i])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d,'
    .. ' "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


# --- the raw reference server -------------------------------------------------------------


def raw_app() -> Starlette:
    """Verify the LINE signature, insert the body, commit: nothing else (``--factory``)."""
    engine = make_engine(make_url(os.environ[RAW_URL_ENV]))
    secret = CHANNEL_SECRET.encode()

    def insert(body: bytes) -> None:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO raw_webhooks (id, body, received_at) VALUES (:id, :body, :at)"),
                {"id": new_id().hex, "body": body.decode(), "at": datetime.now(UTC)},
            )

    async def webhook(request: Request) -> Response:
        body = await request.body()
        expected = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, request.headers.get("x-line-signature", "")):
            return Response(status_code=403)
        await run_in_threadpool(insert, body)
        return Response(status_code=200)

    async def health(request: Request) -> Response:
        return Response("ok")

    return Starlette(
        routes=[
            Route(f"/webhooks/line/{ACCOUNT}", webhook, methods=["POST"]),
            Route("/healthz", health),
        ]
    )


# --- servers as processes -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Started:
    """A process started in the background with its output in ``log``, which can take its
    part once ``ready()``; a server answers on ``port``, its workers are its children."""

    command: list[str]
    popen: subprocess.Popen[bytes]
    log: Path
    ready: Callable[[], bool]
    port: int = 0


@contextmanager
def started(
    command: list[str], cwd: Path, env: dict[str, str], log: Path, ready: Callable[[], bool]
) -> Iterator[Started]:
    """``command`` run in ``cwd``, terminated when the block ends; see :func:`wait_ready`."""
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our interpreter, our commands
            command, cwd=cwd, env=env, stdout=output, stderr=output
        )
    try:
        yield Started(command, process, log, ready)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(*processes: Started) -> None:
    """Return once every process is ready: started together, they import and connect side
    by side. One that exits or is not ready within a minute stops the benchmark."""
    deadline = time.monotonic() + 60
    for process in processes:
        while not process.ready():
            if process.popen.poll() is not None or time.monotonic() > deadline:
                command = " ".join(process.command)
                raise SystemExit(f"{command} did not start:\n{process.log.read_text()}")
            time.sleep(0.1)


@contextmanager
def running(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> Iterator[Started]:
    """A server given a free loopback ``--port``, ready when its ``/healthz`` answers 200."""
    port = free_port()

    def healthy() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    with started([*command, "--port", str(port)], cwd, env, log, healthy) as process:
        yield replace(process, port=port)


@contextmanager
def inbox_worker(folder: Path) -> Iterator[Started]:
    """``regiocrm worker`` run in ``folder``, ready once it says it processes the inbox (in
    English: the environment it gets names no language)."""
    log = folder / "worker.log"
    with started(
        [sys.executable, "-m", "regiocrm", "worker"],
        folder,
        deployment_environment(PYTHONUNBUFFERED="1"),
        log,
        lambda: b"processing the inbox as" in log.read_bytes(),
    ) as process:
        yield process


def cpu_seconds(pid: int) -> dict[int, float]:
    """User and system CPU seconds of ``pid`` and its children, by process."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / TICKS
    return found


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (not idle, not waiting on disk)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICKS


# --- the load -----------------------------------------------------------------------------


def write_bodies(path: Path, count: int) -> None:
    """``count`` signed webhook bodies, one a line: signature, tab, body (one message each,
    from 500 senders, so most senders are known after the first few hundred)."""
    with path.open("w") as out:
        for n in range(count):
            user = DRIVER.sender(n % 500)
            body = DRIVER.text_body(
                sender=user,
                text=f"load message {n}",
                message_id=f"{n:026d}",
                at=START + timedelta(milliseconds=n),
            )
            signed = DRIVER.sign("", body, at=START)
            out.write(f"{signed.headers['x-line-signature']}\t{body.decode()}\n")


class Progress:
    """What is being measured and the time since the start, on standard error (on a
    terminal, one line that the next step or line of figures replaces), and the figures on
    standard output."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.terminal = sys.stderr.isatty()

    def elapsed(self) -> str:
        seconds = int(time.monotonic() - self.began)
        return f"{seconds // 60}:{seconds % 60:02}"

    def step(self, what: str) -> None:
        line = f"[{self.elapsed()}] {what}"
        if self.terminal:
            print(f"\r\x1b[K{line}", end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def say(self, line: str) -> None:
        if self.terminal:
            print("\r\x1b[K", end="", file=sys.stderr, flush=True)
        print(line, flush=True)


@dataclass(frozen=True)
class Bench:
    """What every run shares: the command line, wrk's script, the bodies and the progress."""

    args: argparse.Namespace
    script: Path
    bodies: Path
    progress: Progress

    def split(self, servers: int) -> tuple[int, int]:
        """wrk's threads and connections for each of ``servers`` loaded at once: the
        command line's, shared out."""
        threads = max(1, self.args.threads // servers)
        return threads, max(threads, self.args.connections // servers)


@dataclass(frozen=True)
class Figures:
    """One run: wrk's figures (added up over the servers the load was spread on), the
    seconds until the inbox was empty (``None`` for the raw reference, which has none),
    cores busy during the load, when it ended, and each server's acks/s and p99 when the
    load was spread."""

    acks_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    requests: int
    drained_s: float | None
    cores: list[float]
    wrk: float = 0.0
    machine: float = 0.0
    ended: float = 0.0
    per_server: tuple[tuple[float, float], ...] = ()


def load(
    servers: Sequence[Started], bench: Bench, name: str, watched: Sequence[Started] = ()
) -> Figures:
    """wrk's figures for the load, one wrk per server, all at once, each with its share of
    the connections and its own share of the bodies; with the cores each server process and
    each ``watched`` process kept busy over it (a ``--workers`` server's workers are its
    children), in that order; no inbox time yet."""
    args = bench.args
    threads, connections = bench.split(len(servers))
    pids = [process.popen.pid for process in [*servers, *watched]]
    bench.progress.step(f"{name}: {args.duration} s of load")
    before = {pid: cpu_seconds(pid) for pid in pids}
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine_before = busy_seconds()
    began = time.monotonic()
    wrks = [
        subprocess.Popen(  # noqa: S603
            [
                args.wrk,
                f"-t{threads}",
                f"-c{connections}",
                f"-d{args.duration}s",
                "--timeout",
                "10s",
                "-s",
                str(bench.script),
                f"http://127.0.0.1:{server.port}/webhooks/line/{ACCOUNT}",
                "--",
                str(bench.bodies),
                str(threads * len(servers)),
                str(threads * n),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, server in enumerate(servers)
    ]
    outputs = [wrk.communicate() for wrk in wrks]
    ended = time.monotonic()  # every wrk has its last answer: the last ack
    wall = ended - began
    after = {pid: cpu_seconds(pid) for pid in pids}
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = sum(getattr(wrk_after, f) - getattr(wrk_before, f) for f in ("ru_utime", "ru_stime"))
    machine = (busy_seconds() - machine_before) / wall
    results = []
    for wrk, (out, err) in zip(wrks, outputs, strict=True):
        if wrk.returncode:
            raise SystemExit(f"wrk exited with {wrk.returncode}:\n{err}")
        line = next(x for x in out.splitlines() if x.startswith("WRK-JSON "))
        results.append(json.loads(line.removeprefix("WRK-JSON ")))
    cores = [
        (after[pid][process] - before[pid].get(process, 0.0)) / wall
        for pid in pids
        for process in sorted(after[pid])
    ]
    return replace(figures(results, cores), wrk=wrk_cpu / wall, machine=machine, ended=ended)


def inbox(engine: Engine) -> dict[str, int]:
    """How many inbox messages are in each status (on a pooled connection: a new one each
    time would make PostgreSQL start a backend 20 times a second on the machine measured)."""
    with engine.connect() as connection:
        counted = connection.execute(
            text("SELECT status, count(*) FROM inbox_messages GROUP BY status")
        )
        return {str(status): int(count) for status, count in counted}


def until_empty(url: str, since: float) -> tuple[float, dict[str, int]]:
    """Seconds from ``since`` until no inbox message is waiting (polled every 50 ms), and
    the inbox's counts then."""
    deadline = since + 300
    engine = make_engine(make_url(url))
    try:
        while (counts := inbox(engine)).get("received"):
            if time.monotonic() > deadline:
                raise SystemExit("the inbox was not empty five minutes after the load")
            time.sleep(0.05)
    finally:
        engine.dispose()
    return time.monotonic() - since, counts


def drained(url: str, result: Figures, bench: Bench, name: str) -> Figures:
    """``result`` with the seconds from its last ack until the inbox was empty; says so
    when a message failed or an ack has no row."""
    bench.progress.step(f"{name}: until the inbox is empty")
    seconds, counts = until_empty(url, result.ended)
    # Every ack promises a committed row, so fewer rows than acks would be lost messages (or
    # a body two wrks both posted, acknowledged twice and stored once); more rows than acks
    # are the requests wrk dropped unanswered when its time was up.
    acks = result.requests - result.non_2xx
    if counts.get("failed") or sum(counts.values()) < acks:
        bench.progress.say(f"warning: after {acks} acks the inbox holds {counts}")
    return replace(result, drained_s=seconds)


def figures(results: Sequence[dict[str, int]], cores: list[float]) -> Figures:
    """The figures of one wrk, or of several run at once against several servers: their
    acks per second added up, and the worse of their p50s and p99s, an upper bound of the
    percentiles of all their answers together (no more than 1% of either's answers took
    longer than its p99, so no more than 1% of all)."""
    shares = tuple(
        ((r["requests"] - r["non_2xx"]) / (r["duration_us"] / 1e6), r["p99_us"] / 1000)
        for r in results
    )
    return Figures(
        acks_per_s=sum(acks for acks, _ in shares),
        p50_ms=max(r["p50_us"] for r in results) / 1000,
        p99_ms=max(p99 for _, p99 in shares),
        non_2xx=sum(r["non_2xx"] for r in results),
        socket_errors=sum(r["socket_errors"] for r in results),
        requests=sum(r["requests"] for r in results),
        drained_s=None,
        cores=cores,
        per_server=shares if len(shares) > 1 else (),
    )


# --- the runs -----------------------------------------------------------------------------


def raw_run(
    url: str, workers: int, bench: Bench, folder: Path, name: str, *, servers: int = 1
) -> Figures:
    """The raw reference with ``workers`` uvicorn workers, as ``servers`` servers on their
    own ports sharing the database and the load."""
    engine = make_engine(make_url(url))
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE raw_webhooks (id VARCHAR(32) PRIMARY KEY, body TEXT NOT NULL,"
                " received_at TIMESTAMP NOT NULL)"
            )
        )
    engine.dispose()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(HERE),
        "--factory",
        "webhooks_load:raw_app",
        "--host",
        "127.0.0.1",
        "--log-level",
        "warning",
        "--workers",
        str(workers),
    ]
    env = {**deployment_environment(), RAW_URL_ENV: url}
    bench.progress.step(f"{name}: starting")
    with ExitStack() as stack:
        processservers = [
            stack.enter_context(running(command, folder, env, folder / f"raw-{workers}-{n}.log"))
            for n in range(servers)
        ]
        wait_ready(*processservers)
        return load(processservers, bench, name)


def configure(folder: Path, url: str, *, inbox_in_server: bool = True) -> None:
    """A Japanese deployment in ``folder`` whose one zone, ``jp``, is ``url``, with the LINE
    account; its API base is a closed loopback port, so nothing the inbox sends leaves the
    machine."""
    folder.mkdir(parents=True)
    (folder / "regiocrm.toml").write_text(
        'home_zone = "jp"\n'
        f'[zones]\njp = "{url}"\n'
        '[deployment]\nmarket = "JP"\n'
        + ("" if inbox_in_server else "[inbox]\nprocess_in_server = false\n")
        + f"[channel_accounts.{ACCOUNT}]\n"
        'channel = "line"\nmarket = "JP"\n'
        f'channel_secret = "{CHANNEL_SECRET}"\naccess_token = "load-test"\n'
        'api_base = "http://127.0.0.1:9"\n'
    )


def upgrade(folder: Path) -> None:
    upgraded = regiocrm(folder, "db", "upgrade")
    if upgraded.returncode:
        raise SystemExit(f"regiocrm db upgrade failed:\n{upgraded.stderr}")


def regiocrm(folder: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "regiocrm", *arguments],
        cwd=folder,
        env=deployment_environment(),
        capture_output=True,
        text=True,
        check=False,
    )


def serve_command(workers: int) -> list[str]:
    command = [sys.executable, "-m", "regiocrm", "serve"]
    return [*command, "--workers", str(workers)] if workers > 1 else command


def serve_run(url: str, workers: int, bench: Bench, folder: Path, name: str) -> Figures:
    configure(folder, url)
    upgrade(folder)
    env = deployment_environment(PYTHONUNBUFFERED="1")
    bench.progress.step(f"{name}: starting")
    with running(serve_command(workers), folder, env, folder / "serve.log") as server:
        wait_ready(server)
        return drained(url, load([server], bench, name), bench, name)


def topology_run(url: str, bench: Bench, folder: Path, name: str, *, worker: bool) -> Figures:
    """Two ``regiocrm serve`` machines on one zone, each a folder of its own with the same
    settings; with ``worker``, ``[inbox] process_in_server = false`` and ``regiocrm worker``
    from a third folder, else each server processing the inbox. Cores: the servers', then
    the worker's."""
    machines = [folder / "a", folder / "b"]
    for machine in machines:
        configure(machine, url, inbox_in_server=not worker)
    upgrade(machines[0])
    env = deployment_environment(PYTHONUNBUFFERED="1")
    bench.progress.step(f"{name}: starting")
    with ExitStack() as stack:
        servers = [
            stack.enter_context(running(serve_command(1), machine, env, machine / "serve.log"))
            for machine in machines
        ]
        watched = []
        if worker:
            configure(folder / "worker", url, inbox_in_server=False)
            watched.append(stack.enter_context(inbox_worker(folder / "worker")))
        wait_ready(*servers, *watched)
        return drained(url, load(servers, bench, name, watched), bench, name)


def serve_has_workers(folder: Path) -> bool:
    helped = regiocrm(folder, "serve", "--help")
    return "--workers" in helped.stdout


@contextmanager
def databases(kind: str, server: str, folder: Path) -> Iterator[Iterator[str]]:
    """Fresh database URLs, each new one on demand: files in ``folder`` or scratch
    PostgreSQL databases dropped when the block ends."""
    with ExitStack() as stack:

        def fresh() -> Iterator[str]:
            n = 0
            while True:
                n += 1
                if kind == "SQLite":
                    yield f"sqlite:///{folder / f'db-{n}.sqlite'}"
                else:
                    url = stack.enter_context(scratch_database(make_url(server)))
                    yield url.render_as_string(hide_password=False)

        yield fresh()


HEADER = (
    f"{'server':<34} {'acks/s':>8} {'p50 ms':>7} {'p99 ms':>8} {'non2xx':>6}"
    f" {'errors':>6} {'empty in':>9} {'/ raw':>7}   cores per process"
)


def row(name: str, f: Figures, raw: Figures | None) -> str:
    drained = "-" if f.drained_s is None else f"{f.drained_s:.1f} s"
    ratio = "" if raw is None else f"{f.acks_per_s / raw.acks_per_s:6.1%}"
    # uvicorn's supervisor and multiprocessing's helper sleep through the load: leave them out.
    cores = " ".join(f"{c:.2f}" for c in f.cores if c >= 0.01)
    return (
        f"{name:<34} {f.acks_per_s:8,.0f} {f.p50_ms:7.1f} {f.p99_ms:8.1f} {f.non_2xx:6}"
        f" {f.socket_errors:6} {drained:>9} {ratio:>7}   {cores}"
        f" (wrk {f.wrk:.2f}, machine {f.machine:.2f})"
    )


def report(bench: Bench, name: str, f: Figures, raw: Figures | None) -> None:
    """The run's row, and under it each server's share when the load was spread, and
    whether wrk had to post a body twice."""
    bench.progress.say(row(name, f, raw))
    if f.per_server:
        shares = " + ".join(f"{acks:,.0f}" for acks, _ in f.per_server)
        p99s = " / ".join(f"{p99:.1f}" for _, p99 in f.per_server)
        bench.progress.say(f"{'':<34} (each server: {shares} acks/s, p99 {p99s} ms)")
    if f.requests > bench.args.bodies:
        bench.progress.say(f"{'':<34} note: wrk posted more than --bodies, some twice")


def one_machine(kind: str, server: str, bench: Bench, folder: Path, with_workers: bool) -> None:
    """The raw reference with 1 and 2 workers, then ``regiocrm serve`` with 1 and (when
    it has ``--workers``) 2 processes, each processing the inbox."""
    bench.progress.say(f"\n{kind}\n{HEADER}")
    with databases(kind, server, folder) as fresh:
        name = "raw reference, 1 worker"
        raw = raw_run(next(fresh), 1, bench, folder, f"{kind}: {name}")
        report(bench, name, raw, None)
        name = "raw reference, 2 workers"
        raw2 = raw_run(next(fresh), 2, bench, folder, f"{kind}: {name}")
        report(bench, name, raw2, raw)
        for workers in [1, 2] if with_workers else [1]:
            name = f"regiocrm serve, {workers} process{'es' if workers > 1 else ''}"
            served = serve_run(
                next(fresh), workers, bench, folder / f"{kind}-{workers}", f"{kind}: {name}"
            )
            report(bench, name, served, raw)
            bench.progress.say(
                f"{'':<34} (and / raw with 2 workers: {served.acks_per_s / raw2.acks_per_s:.1%})"
            )


def two_machines(server: str, bench: Bench, folder: Path) -> None:
    """The raw reference on two servers, then two ``regiocrm serve`` machines with one
    ``regiocrm worker``, then the two processing the inbox themselves."""
    threads, connections = bench.split(2)
    bench.progress.say(
        "\nPostgreSQL, two machines: two servers on one zone, each loaded at once by its own"
        f" wrk -t{threads} -c{connections}\nposting its own half of the bodies; acks/s added up,"
        " p50 and p99 the worse server's (an upper bound of both\ntogether), cores the two"
        f" servers' then the worker's; / raw is of the raw reference on two servers\n{HEADER}"
    )
    with databases("PostgreSQL", server, folder) as fresh:
        name = "raw reference, 2 servers"
        raw = raw_run(next(fresh), 1, bench, folder, f"two machines: {name}", servers=2)
        report(bench, name, raw, None)
        for worker in (True, False):
            name = "2 serve + 1 regiocrm worker" if worker else "2 serve, each processing"
            served = topology_run(
                next(fresh),
                bench,
                folder / ("topology-worker" if worker else "topology"),
                f"two machines: {name}",
                worker=worker,
            )
            report(bench, name, served, raw)


PARTS = ("sqlite", "postgres", "topology")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=" ".join(__doc__.split("\n\n")[0].split()),
        epilog="Needs wrk on the PATH (apt-get install wrk). Columns: acks/s (2xx answers"
        " per second), p50 and p99 latency in ms, non-2xx answers, socket errors and"
        " timeouts, seconds from the last ack until the inbox is empty, acks as a share of"
        " the raw reference with one worker (of the raw reference on two servers for the"
        " two machines), and cores busy per server process (and wrk's, and the whole"
        " machine's: the rest is the database, the kernel's loopback and any other work)"
        " during the load.",
    )
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=DEFAULT_POSTGRES,
        metavar="URL",
        help="also measure on PostgreSQL, one machine then two: scratch databases on the"
        f" server at URL (default {DEFAULT_POSTGRES}), dropped after",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="measure only this part (repeat for more): sqlite, postgres (one machine) or"
        " topology (two machines on one PostgreSQL zone); the last two on --postgres's"
        " server or its default",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per server")
    parser.add_argument("--connections", type=int, default=32, help="wrk's open connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk's threads")
    parser.add_argument(
        "--bodies",
        type=int,
        default=80_000,
        help="distinct signed webhooks generated; wrk repeats them only past this many",
    )
    parser.add_argument("--wrk", default=shutil.which("wrk") or "wrk", help="the wrk binary")
    args = parser.parse_args()
    if not shutil.which(args.wrk):
        parser.error(f"{args.wrk} not found: apt-get install -y wrk")
    if args.only:
        parts = [part for part in PARTS if part in args.only]
    else:
        parts = ["sqlite", "postgres", "topology"] if args.postgres else ["sqlite"]
    postgres = args.postgres or DEFAULT_POSTGRES

    progress = Progress()
    with tempfile.TemporaryDirectory(prefix="webhooks-load-") as tmp:
        folder = Path(tmp)
        bench = Bench(args, folder / "post.lua", folder / "bodies.txt", progress)
        bench.script.write_text(LUA)
        progress.step("signing the bodies")
        write_bodies(bench.bodies, args.bodies)
        with_workers = serve_has_workers(HERE)
        progress.say(
            f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.bodies:,}"
            f" distinct signed LINE webhooks; load average before: {load_average()}"
            f" on {os.cpu_count()} cores"
        )
        if not with_workers:
            progress.say("regiocrm serve --workers does not exist in this version: 1 process only")
        if "sqlite" in parts:
            one_machine("SQLite", "", bench, folder, with_workers)
        if "postgres" in parts:
            one_machine("PostgreSQL", postgres, bench, folder, with_workers)
        if "topology" in parts:
            two_machines(postgres, bench, folder)
    progress.say(f"\ndone in {progress.elapsed()}; load average after: {load_average()}")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
