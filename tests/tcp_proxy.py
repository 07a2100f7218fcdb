"""A TCP proxy on loopback between a served deployment and its database, which a test cuts
(the database is unreachable) and restores (it is back), as a network or a failover does."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

# How long the accepting thread waits before it looks whether it should stop.
ACCEPT_SECONDS = 0.1
CHUNK = 65536


class TcpProxy:
    """Forwards each connection to its port on to ``target``, until :meth:`cut`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._stopping = threading.Event()

    def listen(self, *, answering: bool = True) -> None:
        """Accept connections (again, on the same port after a cut).

        :param answering: false for a database that accepts connections and never answers
            (overloaded, or a pooler in front of it stuck): nothing is forwarded.
        """
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.settimeout(ACCEPT_SECONDS)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopping.clear()
        self._accepting = threading.Thread(
            target=self._accept, args=(listener, answering), daemon=True
        )
        self._accepting.start()

    def cut(self) -> None:
        """Stop listening, so a new connection is refused, and close every connection
        open through the proxy, both ways."""
        self._stopping.set()
        if self._accepting is not None:
            self._accepting.join()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            for connection in self._open:
                with suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self._open.clear()

    def _accept(self, listener: socket.socket, answering: bool) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            if not answering:
                with self._lock:
                    self._open.add(client)
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy what ``source`` sends to ``sink`` until either end closes."""
    with suppress(OSError):
        while data := source.recv(CHUNK):
            sink.sendall(data)
    with suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextmanager
def proxying(target: tuple[str, int]) -> Iterator[TcpProxy]:
    """A :class:`TcpProxy` to ``target``, listening, until the block ends."""
    proxy = TcpProxy(target)
    proxy.listen()
    try:
        yield proxy
    finally:
        proxy.cut()
