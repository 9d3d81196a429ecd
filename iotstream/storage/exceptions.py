"""Errors of the storage layer."""

from iotstream.exceptions import IotStreamError

__all__ = ["StorageError", "StorageFullError", "StorageUnavailableError", "storage_failure"]


class StorageError(IotStreamError):
    """The time-series store failed a request."""


class StorageUnavailableError(StorageError):
    """The database cannot be reached now (connection lost, server down); retry with backoff."""

    retriable = True


class StorageFullError(StorageError):
    """The disk under the store is full: the same write succeeds once there is space again."""

    retriable = True


_FULL = ("No space left on device", "disk is full", "Disk quota exceeded")


def storage_failure(message: str) -> StorageError:
    """The error for a failed write: one that a full disk explains is retriable."""
    if any(sign in message for sign in _FULL):
        return StorageFullError(f"{message} (the disk is full: storing resumes when there is space)")
    return StorageError(message)
