"""Errors of the processing layer."""

from iotstream.exceptions import IotStreamError

__all__ = ["ProcessingConfigError", "ProcessingError"]


class ProcessingError(IotStreamError):
    """A stream job failed."""


class ProcessingConfigError(ProcessingError):
    """A job, window or aggregation is defined with values that cannot work."""
