"""A TCP proxy in front of Redis (127.0.0.1) that holds the first command matching a
pattern: the client that sent it waits for an answer that never comes, until the test
decides what happens to it (e.g. ``kill -9``). Nothing of the held command reaches Redis."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from urllib.parse import urlsplit

__all__ = ["HoldingProxy"]


class HoldingProxy:
    """``url`` (same database number as ``upstream``) forwards every connection to
    ``upstream`` both ways; the first client command whose bytes match ``pattern`` is held
    (:attr:`held` is set, :attr:`match` is the match) and that connection forwards no more."""

    def __init__(self, upstream: str, pattern: bytes) -> None:
        parts = urlsplit(upstream)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self._db = parts.path
        self._pattern = re.compile(pattern)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.held = threading.Event()
        self.match: re.Match[bytes] | None = None
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self._listener.getsockname()[1]}{self._db}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        tail, holding = b"", False
        try:
            while data := source.recv(65536):
                if from_client and not holding and not self.held.is_set():
                    found = self._pattern.search(tail + data)
                    if found is not None:
                        with self._lock:
                            holding = not self.held.is_set()
                            if holding:
                                self.match = found
                                self.held.set()
                    tail = (tail + data)[-512:]
                if not holding:  # a held connection stays open; nothing more of it reaches Redis
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()
