"""`regiocrm serve` as a user runs it: a real uvicorn process answering over loopback, for
the served-HTTP tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from regiocrm.testing import deployment_environment, run_regiocrm


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def add_user(folder: Path, name: str, role: str, *options: str) -> str:
    """A new user of the deployment in ``folder``, and their API token."""
    added = run_regiocrm("users", "add", name, "--role", role, *options, cwd=folder)
    assert added.returncode == 0, added.stderr
    return added.stdout.strip().splitlines()[-1]


def add_user_with_password(folder: Path, name: str, role: str, password: str, *options: str) -> str:
    """A new user of the deployment in ``folder`` who signs in to the console with
    ``password`` (given on standard input, as ``--password-stdin`` reads it); their API
    token. ``options`` such as ``"--org", "Tokyo Hub"`` go to ``regiocrm users add``."""
    arguments = ("users", "add", name, "--role", role, *options, "--password-stdin")
    added = subprocess.run(
        [sys.executable, "-m", "regiocrm", *arguments],
        cwd=folder,
        env=deployment_environment(),
        input=password,
        capture_output=True,
        text=True,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    return added.stdout.strip().splitlines()[-1]


def admin_token(folder: Path) -> str:
    """Migrate the deployment in ``folder`` and add an admin; their API token."""
    upgraded = run_regiocrm("db", "upgrade", cwd=folder)
    assert upgraded.returncode == 0, upgraded.stderr
    return add_user(folder, "ops", "admin")


@dataclass(frozen=True)
class Server:
    """A running ``regiocrm serve``: where it answers, the file its output goes to, and
    its process (for the tests that kill it)."""

    base: str
    output: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.output.read_text()


@dataclass(frozen=True)
class Worker:
    """A running ``regiocrm worker``: the file its output goes to, and its process."""

    output: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.output.read_text()


@dataclass(frozen=True)
class Running:
    """The processes of one deployment that :func:`running` started, in the order named."""

    servers: list[Server]
    workers: list[Worker]


def _start(folder: Path, name: str, *arguments: str) -> tuple[Path, subprocess.Popen[bytes]]:
    """``regiocrm ARGUMENTS`` in ``folder``: its output goes to ``folder/NAME.log`` as it is
    written (a pipe nobody reads would stop it once it filled), and PostgreSQL knows its
    connections as application ``NAME``."""
    output = folder / f"{name}.log"
    with output.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "regiocrm", *arguments],
            cwd=folder,
            env=deployment_environment(PYTHONUNBUFFERED="1", PGAPPNAME=name),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return output, process


def _answers(server: Server) -> bool:
    try:
        httpx.get(f"{server.base}/healthz", timeout=1)
    except httpx.TransportError:
        return False
    return True


@contextmanager
def running(
    folder: Path,
    *,
    servers: Sequence[str] = (),
    workers: Sequence[str] = (),
    serve_options: Sequence[str] = (),
) -> Iterator[Running]:
    """``regiocrm serve`` on a free port for each name in ``servers`` and ``regiocrm
    worker`` for each in ``workers``, in ``folder`` (migrated), started together (each
    takes seconds to start), until the block ends; once every server answers and every
    worker says it processes the inbox. Each is stopped with SIGTERM, as a deployment
    stops it, and known by its name (see :func:`_start`). ``serve_options`` go to each
    ``regiocrm serve``, such as ``"--workers", "2"``."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        started = Running([], [])
        for name in servers:
            port = free_port()
            output, process = _start(folder, name, "serve", "--port", str(port), *serve_options)
            processes.append(process)
            started.servers.append(Server(f"http://127.0.0.1:{port}", output, process))
        for name in workers:
            output, process = _start(folder, name, "worker")
            processes.append(process)
            started.workers.append(Worker(output, process))
        deadline = time.monotonic() + 60
        for server in started.servers:
            while not _answers(server):
                if server.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"regiocrm serve did not start: {server.log()}")
                time.sleep(0.1)
        for worker in started.workers:
            while "processing the inbox as" not in worker.log():
                if worker.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"regiocrm worker did not start: {worker.log()}")
                time.sleep(0.1)
        yield started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


@contextmanager
def serving(folder: Path, *options: str, name: str = "serve") -> Iterator[Server]:
    """``regiocrm serve`` on a free port in ``folder`` (migrated), with ``options`` such as
    ``"--workers", "2"``, until the block ends, once it answers; its output, uvicorn's
    access log included, in ``folder/NAME.log``."""
    with running(folder, servers=[name], serve_options=options) as started:
        yield started.servers[0]


@contextmanager
def working(folder: Path, *, name: str = "worker") -> Iterator[Worker]:
    """``regiocrm worker`` in ``folder`` (migrated), until the block ends, once it says it
    processes the inbox; its output in ``folder/NAME.log``."""
    with running(folder, workers=[name]) as started:
        yield started.workers[0]


@dataclass(frozen=True)
class Console:
    """A migrated deployment in ``folder`` served at ``server``, for the console's tests."""

    folder: Path
    server: Server

    @property
    def base(self) -> str:
        return self.server.base

    def add_user(self, name: str, role: str, password: str, *options: str) -> str:
        """Add a user who signs in with ``password``; their API token (see
        :func:`add_user_with_password`)."""
        return add_user_with_password(self.folder, name, role, password, *options)


@contextmanager
def serving_console(folder: Path) -> Iterator[Console]:
    """Migrate the deployment in ``folder`` and serve it until the block ends."""
    upgraded = run_regiocrm("db", "upgrade", cwd=folder)
    assert upgraded.returncode == 0, upgraded.stderr
    with serving(folder) as server:
        yield Console(folder, server)
