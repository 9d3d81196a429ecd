"""Commands from the central site to an edge site's devices, over the relay's reverse channel.

The edge site asks the central one (`POST /api/v1/relay/{site}/commands`, held open up to a few
seconds while nothing is queued) and gets the site's queued commands; it stores each under its central
ticket and expiry — creating a ticket twice is a no-op — and says so in its next request, which is
when the central site marks them `sent`. A command whose answer was lost comes again and is kept
once, so each reaches the edge exactly once and its devices at most once. The same requests carry the
edge's state changes (delivered, succeeded with the device's value, failed, expired) back up.
"""

import asyncio
import logging
import threading
import time
from typing import Any, cast

import httpx
import msgspec

from iotstream.relay.command_rules import Command, InvalidCommandError, StateName
from iotstream.relay.commands import CommandStore
from iotstream.relay.config import RelaySettings

__all__ = [
    "CommandChannel",
    "RelayedCommand",
    "SiteCommands",
    "SiteReport",
    "StateUpdate",
    "apply_report",
    "wait_for_commands",
]

_log = logging.getLogger(__name__)
WAIT_S = 2.0  # how long the central site holds a request while nothing is queued


class StateUpdate(msgspec.Struct, frozen=True, omit_defaults=True):
    ticket: str
    state: StateName
    value: Any = None
    error: str | None = None


class SiteReport(msgspec.Struct, frozen=True):
    """What an edge site tells the central one: commands it now holds, and state changes."""

    received: list[str] = []
    updates: list[StateUpdate] = []
    wait_s: float = 0.0


class RelayedCommand(msgspec.Struct, frozen=True, omit_defaults=True):
    ticket: str
    device: str
    action: str
    path: str
    expires_ms: int
    value: Any = None


class SiteCommands(msgspec.Struct, frozen=True):
    commands: list[RelayedCommand]


_answer_decoder = msgspec.json.Decoder(SiteCommands)


def relayed(command: Command) -> RelayedCommand:
    return RelayedCommand(
        command.ticket, command.device, command.action, command.path, command.expires_ms, command.value
    )


class CommandChannel:
    """The edge site's end: one request at a time, on the relay role's thread."""

    def __init__(self, store: CommandStore, site: str, settings: RelaySettings) -> None:
        self._store = store
        headers = {"Authorization": f"Bearer {settings.token.get_secret_value()}"} if settings.token else {}
        timeout = settings.timeout_ms / 1000 + WAIT_S
        self._http = httpx.Client(base_url=settings.to or "", headers=headers, timeout=timeout)
        self._path = f"/api/v1/relay/{site}/commands"
        self._retry_max_s = settings.retry_max_ms / 1000
        self.last_error: str | None = None
        self.received = 0

    def run(self, stop: threading.Event) -> None:
        """Until `stop`. Whatever fails (the link, the catalog) is retried; commands whose receipt was
        not acknowledged come again and are kept once."""
        received: list[str] = []
        backoff_s = 0.05
        while not stop.is_set():
            try:
                received = self._turn(received)
            except Exception as err:  # the link, the central site's answer or this site's catalog
                if self.last_error is None:
                    _log.warning("command channel to the central site failed: %s; retrying", err)
                self.last_error = str(err) or type(err).__name__
                received = []
                stop.wait(backoff_s)
                backoff_s = min(backoff_s * 2, self._retry_max_s)
                continue
            backoff_s, self.last_error = 0.05, None

    def _turn(self, received: list[str]) -> list[str]:
        """One exchange: acknowledge `received`, report state changes, keep what comes."""
        updates = [_update(command) for command in self._store.unreported(100)]
        commands = self._exchange(SiteReport(received, updates, WAIT_S))
        for update in updates:
            self._store.mark_reported(update.ticket, update.state)
        return self._keep(commands)

    def _exchange(self, report: SiteReport) -> list[RelayedCommand]:
        response = self._http.post(self._path, content=msgspec.json.encode(report))
        if response.status_code != 200:
            raise RuntimeError(f"the central site answered {response.status_code}: {response.text[:300]}")
        return _answer_decoder.decode(response.content).commands

    def _keep(self, commands: list[RelayedCommand]) -> list[str]:
        """Store what came (once per ticket); the tickets to acknowledge in the next request."""
        now_ms = time.time_ns() // 1_000_000
        for c in commands:
            if c.expires_ms > now_ms:
                try:
                    self._store.create(
                        c.device,
                        c.action,
                        c.path,
                        c.value,
                        c.expires_ms - now_ms,
                        ticket=c.ticket,
                        expires_ms=c.expires_ms,
                    )
                except InvalidCommandError as err:  # the central site checked it, not knowing the device
                    _log.warning("relayed command %s refused here: %s", c.ticket, err)
                    self._store.refused(c.ticket, c.device, c.action, c.path, c.value, c.expires_ms, str(err))
        self.received += len(commands)
        return [c.ticket for c in commands]

    def close(self) -> None:
        self._http.close()


def _update(command: Command) -> StateUpdate:
    return StateUpdate(command.ticket, cast("StateName", command.state), command.result, command.error)


def apply_report(store: CommandStore, site: str, report: SiteReport) -> None:
    """At the central site: commands the edge holds are `sent`; its later states follow. Tickets of
    other sites' commands are ignored."""
    for ticket in report.received:
        command = store.get(ticket)
        if command is not None and command.site == site:
            store.advance(ticket, "sent")
    for update in report.updates:
        command = store.get(update.ticket)
        if command is not None and command.site == site and update.state not in ("queued", "sent"):
            store.advance(update.ticket, update.state, value=update.value, error=update.error)


async def wait_for_commands(store: CommandStore, site: str, wait_s: float) -> list[RelayedCommand]:
    """The site's queued commands, waiting up to `wait_s` (looking every 100 ms) while there are none;
    asleep on the event loop, not on a worker thread, however many sites wait."""
    deadline = time.monotonic() + min(max(wait_s, 0.0), 10.0)
    while True:
        queued = await asyncio.to_thread(store.queued_for_site, site, 100)
        if queued or time.monotonic() >= deadline:
            return [relayed(command) for command in queued]
        await asyncio.sleep(0.1)
