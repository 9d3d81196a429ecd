"""A TCP proxy the tests control, standing for the unreliable link between an edge and a central site.

`refuse()` closes the listener and every connection (connections are refused, like a host that is
down); `black_hole()` keeps accepting but forwards nothing, in either direction, on new and open
connections (like a link whose packets vanish); `restore()` forwards again.
"""

import contextlib
import socket
import threading
from typing import Self

__all__ = ["TcpProxy"]


class TcpProxy:
    def __init__(self, target_port: int, port: int = 0) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = self._listen(port)
        self.port = self._listener.getsockname()[1]
        self._mode = "open"
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._closed = False
        self._acceptor = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def retarget(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)

    def refuse(self) -> None:
        with self._lock:
            self._mode = "refused"
            self._close_listener()
            self._drop_all()

    def black_hole(self) -> None:
        with self._lock:
            self._mode = "black-holed"

    def restore(self) -> None:
        with self._lock:
            if self._mode == "refused":
                self._listener = self._listen(self.port)
                self._acceptor = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)
                self._acceptor.start()
            elif self._mode == "black-holed":
                self._drop_all()  # what they held is lost, like a connection that timed out
            self._mode = "open"

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._close_listener()
            self._drop_all()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _listen(port: int) -> socket.socket:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        return listener

    def _close_listener(self) -> None:
        """Shut down first: on Linux that wakes the thread blocked in accept(); close alone does not."""
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._acceptor.join(5)

    def _drop_all(self) -> None:
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._sockets.clear()

    def _accept(self) -> None:
        listener = self._listener
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by refuse() or close()
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()  # the target is down: so is the link, as the client sees it
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):  # forward each write at once, as a router would (no Nagle)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self._mode == "black-holed":
                    continue  # swallowed: the other end waits until its timeout
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
