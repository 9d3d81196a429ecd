"""A bound on the size of a request's head (request line and headers), which uvicorn does not set.

uvicorn's fast parser (httptools) gathers a header of any size in memory before the application sees
it: one client sending a head of gigabytes, slowly, takes the memory of every other. Bodies are bounded
elsewhere (`[ingest] max_body_bytes`); this bounds what comes before the body, answering 431 as HTTP
says (RFC 6585) and closing the connection.
"""

from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

__all__ = ["head_limited"]

_LINGER_S = 2.0  # how long a refused client may go on sending before the connection is closed


def head_limited(max_head_bytes: int) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol refusing a request whose head passes `max_head_bytes`."""
    return type("HeadLimitedProtocol", (_HeadLimitedProtocol,), {"max_head_bytes": max_head_bytes})


class _HeadLimitedProtocol(HttpToolsProtocol):
    """Counts the bytes that arrive while a head is incomplete.

    Only pieces of input that begin and end inside a head are counted: a piece that also holds the end
    of a body before it or a body after it is not, so a request is never refused for its body, and a
    head can pass the limit by at most the one piece it began in (asyncio reads 256 KiB at most).
    """

    max_head_bytes = 65_536

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # a connection starts waiting for a request's head
        self._head_bytes = 0
        self._heads = 0  # heads completed on this connection
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # read and dropped until the close (see `_refuse`)
        was_in_head, heads_before = self._in_head, self._heads
        super().data_received(data)
        if not (was_in_head and self._heads == heads_before) or self.transport.is_closing():
            return  # a head ended in this piece: the rest of it is body or the next request
        self._head_bytes += len(data)
        if self._head_bytes > self.max_head_bytes:
            self._refuse(f"the request's line and headers passed {self.max_head_bytes} bytes")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._heads += 1
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        super().on_message_complete()

    def _refuse(self, reason: str) -> None:
        self.logger.warning("refused a request: %s", reason)
        body = reason.encode()
        self.transport.write(
            STATUS_LINE[431]
            + b"content-type: text/plain; charset=utf-8\r\n"
            + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
            + body
        )
        self._refused = True
        if not self.transport.can_write_eof():  # TLS: no half-close
            self.transport.close()
            return
        # Closing with unread input makes the kernel reset the connection, and a client still sending
        # would lose the answer with it: close our side only, read and drop what comes, then close.
        self.transport.write_eof()
        self.loop.call_later(_LINGER_S, self.transport.close)
