"""Commands to devices: `POST /api/v1/commands` answers at once with a ticket; the command then goes
queued → sent → delivered → succeeded (with the device's `value`), failed (with its `error`) or
expired (no answer within its timeout). A `Ticket` follows it with `GET /api/v1/commands/{ticket}`.

The platform delivers a command over MQTT on `iotstream/<device>/commands`; the device answers on
`iotstream/<device>/responses` with `{"ticket": ..., "status": "ok" | "error", "value" | "error": ...}`.
To a device registered with the LwM2M server it goes as the LwM2M operation the action names.
"""

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Literal

import msgspec

from iotstream.client._http import Call, Plan, check, decoded

__all__ = [
    "FINAL_STATES",
    "Action",
    "AsyncTicket",
    "CommandStatus",
    "Ticket",
    "command_plan",
    "status_plan",
]

Action = Literal["read", "write", "execute", "discover", "write-attributes", "create", "delete"]
FINAL_STATES = frozenset({"succeeded", "failed", "expired"})
_PATH = "/api/v1/commands"


class CommandStatus(msgspec.Struct, frozen=True):
    """Where a command stands; `value` (succeeded) or `error` (failed) once the device answered."""

    ticket: str
    state: str  # queued, sent, delivered, succeeded, failed or expired
    device: str
    command: dict[str, Any]  # the action, path and value asked for
    created: datetime
    expires: datetime
    updated: datetime
    site: str | None = None
    transport: str | None = None  # how it reaches the device: "mqtt" or "lwm2m" (None: through a site)
    value: Any = None
    error: str | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


_status = msgspec.json.Decoder(CommandStatus)


def command_plan(
    device: str, action: Action, path: str, value: Any, timeout_s: float, site: str | None
) -> Plan[str]:
    """POST the command; its ticket."""
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be more than 0, got {timeout_s}")
    body: dict[str, Any] = {
        "device": device,
        "action": action,
        "path": path,
        "timeout": f"{round(timeout_s * 1000)}ms",
    }
    body |= ({"value": value} if value is not None else {}) | ({"site": site} if site is not None else {})
    ticket: str = decoded((yield Call.post(_PATH, body)), 202)["ticket"]
    return ticket


def status_plan(ticket: str) -> Plan[CommandStatus]:
    answer = yield Call("GET", f"{_PATH}/{ticket}")
    return _status.decode(check(answer).content)


def _polls(timeout_s: float | None) -> Iterator[float]:
    """Pauses between polls (50 ms doubling to 1 s) until `timeout_s`; then TimeoutError."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    pause_s = 0.05
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"the command did not reach a final state within {timeout_s} s")
        yield pause_s if deadline is None else min(pause_s, max(deadline - time.monotonic(), 0))
        pause_s = min(pause_s * 2, 1.0)


class Ticket:
    """A command on its way; `wait()` for its outcome.

    Example::

        ticket = client.command("pump-1", "write", "/3311/0/5850", True, timeout_s=30)
        outcome = ticket.wait()
        assert outcome.state == "succeeded"
    """

    def __init__(self, ticket: str, run: Callable[[Plan[CommandStatus]], CommandStatus]) -> None:
        self.id = ticket
        self._run = run

    def status(self) -> CommandStatus:
        return self._run(status_plan(self.id))

    def wait(self, timeout_s: float | None = None) -> CommandStatus:
        """Poll until the command is final (every command is, by its own timeout at the latest)."""
        for pause_s in _polls(timeout_s):
            status = self.status()
            if status.final:
                return status
            time.sleep(pause_s)
        raise AssertionError("unreachable: _polls ends by raising")

    def __repr__(self) -> str:
        return f"Ticket({self.id!r})"


class AsyncTicket:
    """`Ticket` for asyncio."""

    def __init__(self, ticket: str, run: Callable[[Plan[CommandStatus]], Any]) -> None:
        self.id = ticket
        self._run = run

    async def status(self) -> CommandStatus:
        status: CommandStatus = await self._run(status_plan(self.id))
        return status

    async def wait(self, timeout_s: float | None = None) -> CommandStatus:
        """Poll until the command is final (every command is, by its own timeout at the latest)."""
        for pause_s in _polls(timeout_s):
            status = await self.status()
            if status.final:
                return status
            await asyncio.sleep(pause_s)
        raise AssertionError("unreachable: _polls ends by raising")

    def __repr__(self) -> str:
        return f"AsyncTicket({self.id!r})"
