"""Errors of the storage layer."""

from iotstream.exceptions import IotStreamError

__all__ = ["StorageError", "StorageUnavailableError"]


class StorageError(IotStreamError):
    """The time-series store failed a request."""


class StorageUnavailableError(StorageError):
    """The database cannot be reached now (connection lost, server down); retry with backoff."""

    retriable = True
