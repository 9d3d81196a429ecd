"""Serving the API with uvicorn on a background thread, so the embedded platform owns the main thread."""

import socket
import threading
import time
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from iotstream.api.head_limit import DEFAULT_MAX_HEAD_BYTES, head_limited

__all__ = ["ApiServer"]


class ApiServer:
    """Binds first (port 0 picks a free one), so `url` is known before the first request."""

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        tls: tuple[Path, Path] | None = None,
        max_connections: int | None = None,
        max_header_bytes: int = DEFAULT_MAX_HEAD_BYTES,
    ) -> None:
        """`tls`: serve HTTPS with this certificate and key; `max_connections`: uvicorn answers 503 to a
        request beyond them, so a crowd of idle or slow clients cannot take all the memory; nor can one
        client with a head of gigabytes past `max_header_bytes` (answered 431)."""
        self._socket = _listen(host, port)
        bound_host, bound_port = self._socket.getsockname()[:2]
        shown = "127.0.0.1" if bound_host in ("0.0.0.0", "") else bound_host  # noqa: S104
        self.url = f"{'https' if tls else 'http'}://{shown}:{bound_port}"
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ssl_certfile=None if tls is None else str(tls[0]),
            ssl_keyfile=None if tls is None else str(tls[1]),
            limit_concurrency=max_connections,
            http=head_limited(max_header_bytes),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="iotstream-api"
        )

    def start(self, timeout_s: float = 10.0) -> "ApiServer":
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            raise RuntimeError(f"the API server did not start on {self.url}")
        return self

    def stop(self) -> None:
        """Finishes the requests in flight (their readings are acknowledged), then closes."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join()
        self._socket.close()


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket whose protocol is IPPROTO_TCP, not 0: asyncio turns Nagle off only on
    sockets it recognises as TCP, and with Nagle on every keep-alive response waits 40 ms for an ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock
