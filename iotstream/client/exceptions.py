"""The client's errors, sorted by what the caller should do about them.

`UnreachableError` (retriable): the platform did not answer in time; the same call may work later.
`RequestError` and its kinds: the platform refused the request; sending it again will not help.
`AuthError`: the token is missing, wrong or may not do this. `BufferFullError`: the disk buffer holds
as much as it may and was told to refuse more. `DataFramesMissingError`: pandas or polars must be
installed first.
"""

try:
    from iotstream.exceptions import IotStreamError
except ImportError:  # the iotstream-client distribution installed alone: no server package around it

    class IotStreamError(Exception):  # type: ignore[no-redef]
        """Base of all iotstream errors (the server package's, when it is installed)."""

        retriable: bool = False


__all__ = [
    "AuthError",
    "BufferFullError",
    "ClientError",
    "DataFramesMissingError",
    "NotFoundError",
    "RejectedError",
    "RequestError",
    "UnreachableError",
]


class ClientError(IotStreamError):
    """Base of the errors `iotstream.client` raises on purpose."""


class UnreachableError(ClientError):
    """The platform could not be reached, or stayed busy (429, 503), for longer than allowed."""

    retriable = True


class RequestError(ClientError):
    """The platform answered the request with an error: the request itself must change."""

    def __init__(self, status: int, detail: str, method: str = "", path: str = "") -> None:
        self.status = status
        self.detail = detail
        asked = f"{method} {path}: " if method else ""
        super().__init__(f"{asked}the platform answered {status}: {detail}")


class AuthError(RequestError):
    """401 or 403: no token, a wrong one, or one whose role may not do this."""


class NotFoundError(RequestError):
    """404: no such datastream, entity or command ticket (or none the token may see)."""


class RejectedError(ClientError):
    """The platform took the request but refused this reading, for the reason given."""

    def __init__(self, reason: str, reading: object = None) -> None:
        self.reason = reason
        self.reading = reading
        super().__init__(f"reading rejected: {reason}")


class BufferFullError(ClientError):
    """The disk buffer is full and its policy is to refuse (`on_full="error"`): nothing was added."""

    retriable = True


class DataFramesMissingError(ClientError, ImportError):
    """A query asked for a DataFrame library that is not installed."""
