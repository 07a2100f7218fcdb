"""LINE webhooks acknowledged per second by ``regiocrm serve`` under wrk's load, against a
raw reference server on the same uvicorn and the same kind of database in the same run.

    python benchmarks/webhooks_load.py                 # SQLite only (about a minute)
    python benchmarks/webhooks_load.py --postgres      # SQLite, then a scratch PostgreSQL db
    python benchmarks/webhooks_load.py --postgres postgresql+psycopg://postgres@host/test

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
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text
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

# One Lua state per wrk thread: thread n takes every n-th line of the bodies file, so no
# two connections post the same message; done() runs in wrk's own state, after the load.
LUA = r"""
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  local stride = tonumber(args[2])
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
class Running:
    """A server process answering on ``port``; its workers are its children."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path


@contextmanager
def running(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> Iterator[Running]:
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our interpreter, our commands
            [*command, "--port", str(port)], cwd=cwd, env=env, stdout=output, stderr=output
        )
    server = Running(process, port, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{' '.join(command)} did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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


@dataclass(frozen=True)
class Figures:
    """One server's run: wrk's figures, the seconds until its inbox was empty (``None`` for
    the raw reference, which has none), cores busy during the load, and when it ended."""

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


def load(server: Running, args: argparse.Namespace, script: Path, bodies: Path) -> Figures:
    """wrk's figures for the load, with the cores each server process kept busy over it
    (a ``--workers`` server's workers are its children); no inbox time yet."""
    before = cpu_seconds(server.process.pid)
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine_before = busy_seconds()
    began = time.monotonic()
    wrk = subprocess.run(  # noqa: S603
        [
            args.wrk,
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{args.duration}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://127.0.0.1:{server.port}/webhooks/line/{ACCOUNT}",
            "--",
            str(bodies),
            str(args.threads),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    ended = time.monotonic()  # wrk has its last answer: the last ack
    wall = ended - began
    after = cpu_seconds(server.process.pid)
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = sum(getattr(wrk_after, f) - getattr(wrk_before, f) for f in ("ru_utime", "ru_stime"))
    machine = (busy_seconds() - machine_before) / wall
    line = next(x for x in wrk.stdout.splitlines() if x.startswith("WRK-JSON "))
    cores = [(after[pid] - before.get(pid, 0.0)) / wall for pid in sorted(after)]
    figured = figures(json.loads(line.removeprefix("WRK-JSON ")), cores)
    return replace(figured, wrk=wrk_cpu / wall, machine=machine, ended=ended)


def inbox(url: str) -> dict[str, int]:
    """How many inbox messages are in each status."""
    engine = make_engine(make_url(url))
    try:
        with engine.connect() as connection:
            counted = connection.execute(
                text("SELECT status, count(*) FROM inbox_messages GROUP BY status")
            )
            return {str(status): int(count) for status, count in counted}
    finally:
        engine.dispose()


def until_empty(url: str, since: float) -> tuple[float, dict[str, int]]:
    """Seconds from ``since`` until no inbox message is waiting (polled every 50 ms), and
    the inbox's counts then."""
    deadline = since + 300
    while (counts := inbox(url)).get("received"):
        if time.monotonic() > deadline:
            raise SystemExit("the inbox was not empty five minutes after the load")
        time.sleep(0.05)
    return time.monotonic() - since, counts


def figures(result: dict[str, int], cores: list[float]) -> Figures:
    seconds = result["duration_us"] / 1e6
    acks = result["requests"] - result["non_2xx"]
    return Figures(
        acks / seconds,
        result["p50_us"] / 1000,
        result["p99_us"] / 1000,
        result["non_2xx"],
        result["socket_errors"],
        result["requests"],
        None,
        cores,
    )


# --- the runs -----------------------------------------------------------------------------


def raw_run(
    url: str, workers: int, args: argparse.Namespace, folder: Path, script: Path, bodies: Path
) -> Figures:
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
    with running(command, folder, env, folder / f"raw-{workers}.log") as server:
        return load(server, args, script, bodies)


def deployment(folder: Path, url: str) -> None:
    """A Japanese deployment whose one zone, ``jp``, is ``url``, with the LINE account; its
    API base is a closed loopback port, so nothing the inbox sends leaves the machine."""
    folder.mkdir()
    (folder / "regiocrm.toml").write_text(
        'home_zone = "jp"\n'
        f'[zones]\njp = "{url}"\n'
        '[deployment]\nmarket = "JP"\n'
        f"[channel_accounts.{ACCOUNT}]\n"
        'channel = "line"\nmarket = "JP"\n'
        f'channel_secret = "{CHANNEL_SECRET}"\naccess_token = "load-test"\n'
        'api_base = "http://127.0.0.1:9"\n'
    )
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


def serve_run(
    url: str, workers: int, args: argparse.Namespace, folder: Path, script: Path, bodies: Path
) -> Figures:
    deployment(folder, url)
    command = [sys.executable, "-m", "regiocrm", "serve"]
    if workers > 1:
        command += ["--workers", str(workers)]
    env = deployment_environment(PYTHONUNBUFFERED="1")
    with running(command, folder, env, folder / "serve.log") as server:
        result = load(server, args, script, bodies)
        drained, counts = until_empty(url, result.ended)
    # Every ack promises a committed row; more rows than acks are the requests wrk dropped
    # unanswered when its time was up.
    acks = result.requests - result.non_2xx
    if counts.get("failed") or sum(counts.values()) < acks:
        print(f"warning: after {acks} acks the inbox holds {counts}")
    return replace(result, drained_s=drained)


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=" ".join(__doc__.split("\n\n")[0].split()),
        epilog="Needs wrk on the PATH (apt-get install wrk). Columns: acks/s (2xx answers"
        " per second), p50 and p99 latency in ms, non-2xx answers, socket errors and"
        " timeouts, seconds from the last ack until the inbox is empty, acks as a share of"
        " the raw reference with one worker, and cores busy per server process (and wrk's,"
        " and the whole machine's: the rest is the database, the kernel's loopback and"
        " any other work) during the load.",
    )
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=DEFAULT_POSTGRES,
        metavar="URL",
        help="also measure on PostgreSQL: scratch databases on the server at URL"
        f" (default {DEFAULT_POSTGRES}), dropped after",
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

    with tempfile.TemporaryDirectory(prefix="webhooks-load-") as tmp:
        folder = Path(tmp)
        script, bodies = folder / "post.lua", folder / "bodies.txt"
        script.write_text(LUA)
        write_bodies(bodies, args.bodies)
        kinds = [("SQLite", "")] + ([("PostgreSQL", args.postgres)] if args.postgres else [])
        with_workers = serve_has_workers(HERE)
        load_average = Path("/proc/loadavg").read_text().split()[:3]
        print(
            f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.bodies:,}"
            f" distinct signed LINE webhooks; load average before: {' '.join(load_average)}"
            f" on {os.cpu_count()} cores"
        )
        if not with_workers:
            print("regiocrm serve --workers does not exist in this version: 1 process only")
        for kind, server in kinds:
            print(f"\n{kind}")
            print(
                f"{'server':<34} {'acks/s':>8} {'p50 ms':>7} {'p99 ms':>8} {'non2xx':>6}"
                f" {'errors':>6} {'empty in':>9} {'/ raw':>7}   cores per process"
            )
            with databases(kind, server, folder) as fresh:
                raw = raw_run(next(fresh), 1, args, folder, script, bodies)
                print(row("raw reference, 1 worker", raw, None), flush=True)
                raw2 = raw_run(next(fresh), 2, args, folder, script, bodies)
                print(row("raw reference, 2 workers", raw2, raw), flush=True)
                for workers in [1, 2] if with_workers else [1]:
                    served = serve_run(
                        next(fresh), workers, args, folder / f"{kind}-{workers}", script, bodies
                    )
                    name = f"regiocrm serve, {workers} process{'es' if workers > 1 else ''}"
                    print(row(name, served, raw), flush=True)
                    print(
                        f"{'':<34} (and / raw with 2 workers: "
                        f"{served.acks_per_s / raw2.acks_per_s:.1%})"
                    )
                    if served.requests > args.bodies:
                        print(f"{'':<34} note: wrk posted more than --bodies, some twice")


if __name__ == "__main__":
    main()
