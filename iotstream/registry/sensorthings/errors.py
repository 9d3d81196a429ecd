"""The client mistakes a SensorThings request can make, each with its HTTP status."""

from iotstream.exceptions import IotStreamError

__all__ = [
    "BadRequest",
    "Conflict",
    "FailedDependency",
    "Forbidden",
    "MethodNotAllowed",
    "NotFound",
    "StaError",
    "Unavailable",
    "UnsupportedMediaType",
]


class StaError(IotStreamError):
    status = 400


class BadRequest(StaError):
    status = 400


class Forbidden(StaError):
    status = 403


class NotFound(StaError):
    status = 404


class MethodNotAllowed(StaError):
    """A method the resource does not take (PUT on a collection, POST on an entity)."""

    status = 405

    def __init__(self, method: str, allow: tuple[str, ...]) -> None:
        super().__init__(f"{method} is not allowed here; this resource takes {', '.join(allow)}")
        self.allow = allow


class Conflict(StaError):
    status = 409


class UnsupportedMediaType(StaError):
    status = 415


class FailedDependency(StaError):
    """Not run: a request or atomicity group of the same $batch that it depends on failed."""

    status = 424


class Unavailable(StaError):
    """The log did not take the readings: the client retries."""

    status = 503
