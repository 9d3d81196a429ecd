"""A bound on the size of a request's head (request line and headers), which uvicorn does not set.

uvicorn's fast parser (httptools) gathers a header of any size in memory before the application sees
it: one client sending a head of gigabytes, slowly, takes the memory of every other. Bodies are bounded
elsewhere (`[ingest] max_body_bytes`); this bounds what comes before the body, answering 431 as HTTP
says (RFC 6585) and closing the connection.
"""

from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

__all__ = ["DEFAULT_MAX_HEAD_BYTES", "head_limited"]

DEFAULT_MAX_HEAD_BYTES = 65_536
_LINGER_S = 2.0  # how long a refused client may go on sending before the connection is closed


def head_limited(max_head_bytes: int) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol refusing a request whose head passes `max_head_bytes`."""
    return type("HeadLimitedProtocol", (_HeadLimitedProtocol,), {"max_head_bytes": max_head_bytes})


class _HeadLimitedProtocol(HttpToolsProtocol):
    """Two counts, because the parser tells where a header ends but not where a piece of input does:

    - the request line and each header as the parser completes them, which is exact, and refuses the
      request before the application sees it;
    - the pieces of input that arrive while a head is unfinished, which catches the one header still
      being gathered (the parser reports a header only once it is whole). Only pieces that begin and end
      inside a head count, so a body never does; such a header can pass the limit by the piece it began
      in (asyncio reads 256 KiB at most) before the connection is closed.
    """

    max_head_bytes = DEFAULT_MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # a connection starts waiting for a request's head
        self._heads = 0  # heads completed on this connection
        self._unfinished_bytes = 0  # input while the current head is unfinished (second count)
        self._parsed_bytes = 0  # the current head's line and headers as parsed (first count)
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # read and dropped until the close (see `_refuse`)
        was_in_head, heads_before = self._in_head, self._heads
        super().data_received(data)
        if not (was_in_head and self._heads == heads_before) or self._refused or self.transport.is_closing():
            return  # a head ended in this piece: the rest of it is body or the next request
        self._unfinished_bytes += len(data)
        if self._unfinished_bytes > self.max_head_bytes:
            self._refuse()

    def on_message_begin(self) -> None:
        self._parsed_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._parsed_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed_bytes += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._heads += 1
        self._unfinished_bytes = 0
        if self._parsed_bytes > self.max_head_bytes:
            self._refuse()  # before the application is called
        else:
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_head = True
        if not self._refused:
            super().on_message_complete()

    def _refuse(self) -> None:
        self._refused = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # pipelined behind a response being sent: a 431 would come first
            return
        reason = f"the request's line and headers passed {self.max_head_bytes} bytes"
        self.logger.warning("refused a request: %s", reason)
        self.transport.write(
            STATUS_LINE[431]
            + b"content-type: text/plain; charset=utf-8\r\n"
            + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(reason)
            + reason.encode()
        )
        if not self.transport.can_write_eof():  # TLS: no half-close
            self.transport.close()
            return
        # Closing with unread input makes the kernel reset the connection, and a client still sending
        # would lose the answer with it: close our side only, read and drop what comes, then close.
        self.transport.write_eof()
        self.loop.call_later(_LINGER_S, self.transport.close)
