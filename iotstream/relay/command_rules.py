"""What a device command is, apart from where it is kept: its actions, its states and their order
(queued → sent → delivered → succeeded | failed | expired; the last three are final), and the checks
that refuse an unusable command with the field to fix.

>>> CommandState.QUEUED.rank < CommandState.SENT.rank, CommandState.EXPIRED.final
(True, True)
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from iotstream.exceptions import IotStreamError
from iotstream.registry.access.principal import owner_of

__all__ = [
    "MAX_TIMEOUT_MS",
    "PENDING_STATES",
    "Action",
    "ActionName",
    "Command",
    "CommandState",
    "InvalidCommandError",
    "StateName",
    "check_command",
]

MAX_TIMEOUT_MS = 86_400_000  # a day: a device that has not answered by then will not
_MAX_NAME = 255  # the column's length


class Action(StrEnum):
    """What a device is asked: LwM2M's device-management operations, which MQTT devices get by name."""

    READ = "read"
    WRITE = "write"
    EXECUTE = "execute"
    DISCOVER = "discover"  # which resources an object or instance has, with their attributes
    WRITE_ATTRIBUTES = "write-attributes"  # how often and when a resource notifies (pmin, pmax, gt, ...)
    CREATE = "create"  # a new object instance
    DELETE = "delete"  # an object instance


_VALUE_REQUIRED = {Action.WRITE, Action.WRITE_ATTRIBUTES, Action.CREATE}
_VALUE_REFUSED = {Action.READ, Action.DISCOVER, Action.DELETE}


class CommandState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def rank(self) -> int:
        """Its place in a command's life: the three final states share the last."""
        return _RANK[self]

    @property
    def final(self) -> bool:
        return _RANK[self] == _FINAL_RANK


_FINAL_RANK = 3
_RANK = {state: min(place, _FINAL_RANK) for place, state in enumerate(CommandState)}
PENDING_STATES = [state.value for state in CommandState if _RANK[state] < _FINAL_RANK]
ActionName = Literal["read", "write", "execute", "discover", "write-attributes", "create", "delete"]
StateName = Literal["queued", "sent", "delivered", "succeeded", "failed", "expired"]


class InvalidCommandError(IotStreamError, ValueError):
    """A command that cannot be sent; `field` names what to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field!r} {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class Command:
    """One command and where it stands; times are epoch ms."""

    ticket: str
    site: str | None  # None: a device of this platform
    device: str
    action: str
    path: str
    value: Any  # what a write or execute carries (None: nothing)
    timeout_ms: int
    state: str
    result: Any  # the value of the device's "ok" answer
    error: str | None  # the device's "error" answer
    created_ms: int
    expires_ms: int
    updated_ms: int
    relayed: bool  # created with a given ticket (relayed from another site)
    reported: str | None  # the last state reported to that site
    transport: str | None = None  # "mqtt" or "lwm2m"; None: another site's device, that site decides

    @property
    def final(self) -> bool:
        return CommandState(self.state).final


def check_command(device: Any, action: Any, path: Any, value: Any, timeout_ms: Any) -> None:
    """Raises `InvalidCommandError` naming the first field that makes the command unusable.

    >>> check_command("pump-1", "read", "/3/0/1", 5, 30_000)
    Traceback (most recent call last):
    ...
    iotstream.relay.command_rules.InvalidCommandError: 'value' is not allowed for a read
    """
    if not isinstance(device, str) or not device:
        raise InvalidCommandError("device", "must be a non-empty string")
    name = owner_of(device)[1]  # a tenant's device is `@tenant/name`; its topic level is the name
    if not name or any(c in name for c in "/+#\0") or len(name) > _MAX_NAME:
        raise InvalidCommandError(
            "device", f"must be one MQTT topic level of at most {_MAX_NAME} characters, without"
            f" '/', '+', '#' or NUL; got {name!r}"
        )  # fmt: skip
    if not isinstance(action, str) or action not in set(Action):
        actions = ", ".join(repr(a.value) for a in Action)
        raise InvalidCommandError("action", f"must be one of {actions}; got {action!r}")
    if not isinstance(path, str) or not path:
        raise InvalidCommandError("path", "must be a non-empty string")
    if action in _VALUE_REQUIRED and value is None:
        raise InvalidCommandError("value", f"is required for a {action}")
    if action in _VALUE_REFUSED and value is not None:
        raise InvalidCommandError("value", f"is not allowed for a {action}")
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int):
        raise InvalidCommandError("timeout", f"must be a whole number of milliseconds; got {timeout_ms!r}")
    if not 0 < timeout_ms <= MAX_TIMEOUT_MS:
        raise InvalidCommandError("timeout", f"must be more than 0 and at most 1 day; got {timeout_ms} ms")
