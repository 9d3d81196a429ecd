"""The root of every error iotstream raises on purpose.

Callers catch `IotStreamError` to tell our precise, user-facing failures apart from bugs. Each error
class says what the caller should do: `retriable = True` means "the same call may succeed later".
"""

__all__ = ["ConfigError", "IotStreamError"]


class IotStreamError(Exception):
    """Base of all iotstream errors; its message is written for the person who must fix the problem."""

    retriable: bool = False


class ConfigError(IotStreamError):
    """The configuration (file, environment or option) holds a value iotstream cannot use."""
