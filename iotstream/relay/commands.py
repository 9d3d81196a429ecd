"""Device commands with tickets, kept in the catalog until they are answered or expire.

A command's state only goes forward: queued → sent → delivered → succeeded | failed | expired (a
step may be skipped; the last three are final and never change). Every change is one guarded UPDATE
(`... WHERE ticket = ? AND state IN (earlier states)`), so processes sharing the catalog never apply a
transition twice or backwards: of two claims of a queued command, one wins. A command past its expiry
that is not final reads as expired; that is stored lazily (by `get`, `list`, `unreported`) and by a
periodic `expire_due` (the deliverer's).

Commands relayed from another site are created with the ticket and expiry given there; their states
are reported back (`unreported`, `mark_reported`).

"""

import builtins
import contextlib
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, Select, Update, insert, select, update
from sqlalchemy.exc import IntegrityError

from iotstream.registry.access.principal import DEFAULT_TENANT, Scope
from iotstream.registry.catalog import Catalog
from iotstream.registry.models import DeviceCommand, Thing
from iotstream.relay.command_rules import (
    PENDING_STATES,
    Command,
    CommandState,
    InvalidCommandError,
    check_command,
)

__all__ = ["LWM2M", "MQTT", "CommandStore"]

MQTT, LWM2M = "mqtt", "lwm2m"  # the transports
_DEVICES_PER_QUERY = 500

_now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000  # noqa: E731


_wakeups: "weakref.WeakKeyDictionary[Catalog, dict[str, threading.Event]]" = weakref.WeakKeyDictionary()
_wakeups_lock = threading.Lock()


def _wakeup_of(catalog: Catalog, transport: str) -> threading.Event:
    """One event per catalog and transport, so every store on it in this process wakes the same
    deliverer, and the MQTT and LwM2M deliverers each clear only their own."""
    with _wakeups_lock:
        return _wakeups.setdefault(catalog, {}).setdefault(transport, threading.Event())


class CommandStore:
    """The commands in the catalog. `wakeup(transport)` is set whenever a command for that transport
    is created in this process (through any store on the same catalog), so its deliverer need not wait
    for its next poll.

    A command to a device of this platform goes over MQTT, unless the device is an LwM2M endpoint
    (its Thing has the `lwm2m` property the LwM2M server gives it): then the `lwm2m` role delivers it,
    and it must be a request LwM2M can make (`ingest.lwm2m.requests`). A command to another site's
    device has no transport: that site decides.

    Example:
        ```python
        store = CommandStore(open_catalog("sqlite:///registry.db"))
        command = store.create("pump-1", "write", "/3311/0/5850", True, timeout_ms=30_000)
        store.advance(command.ticket, "sent")  # True: the deliverer's claim
        ```
    """

    def __init__(self, catalog: Catalog, clock: Callable[[], int] = _now_ms) -> None:
        """`clock`: epoch ms now."""
        self._catalog = catalog
        self._clock = clock

    def wakeup(self, transport: str) -> threading.Event:
        """Set when a command for `transport` is created in this process: its deliverer's cue."""
        return _wakeup_of(self._catalog, transport)

    def create(
        self,
        device: str,
        action: str,
        path: str,
        value: Any,
        timeout_ms: int,
        site: str | None = None,
        *,
        ticket: str | None = None,
        expires_ms: int | None = None,
    ) -> Command:
        """A new queued command with a random ticket, or with the given one (and expiry) for a command
        relayed from another site: creating a ticket that exists returns it unchanged.

        Raises:
            InvalidCommandError: a field makes the command unusable.
        """
        check_command(device, action, path, value, timeout_ms)
        if ticket is not None and (not isinstance(ticket, str) or not 0 < len(ticket) <= 64):
            raise InvalidCommandError("ticket", f"must be a string of 1 to 64 characters; got {ticket!r}")
        if ticket is not None and (existing := self.get(ticket)) is not None:
            return existing
        transport = None if site is not None else self._transport(device)
        if transport == LWM2M:
            from iotstream.ingest.lwm2m.requests import check

            check(action, path, value)
        now = self._clock()
        row = {
            "ticket": ticket or uuid.uuid4().hex,
            "site": site,
            "device": device,
            "action": action,
            "path": path,
            "value": value,
            "timeout_ms": timeout_ms,
            "state": CommandState.QUEUED.value,
            "created_ms": now,
            "expires_ms": now + timeout_ms if expires_ms is None else expires_ms,
            "updated_ms": now,
            "relayed": ticket is not None,
            "transport": transport,
        }
        try:
            with self._catalog.session(write=True) as session:
                session.execute(insert(DeviceCommand).values(row))
        except IntegrityError:
            if ticket is None or (existing := self.get(ticket)) is None:
                raise
            return existing  # another process created it meanwhile
        if transport is not None:
            self.wakeup(transport).set()
        created = self.get(row["ticket"])
        assert created is not None  # noqa: S101 - committed just now; commands are never deleted
        return created

    def refused(
        self, ticket: str, device: str, action: str, path: str, value: Any, expires_ms: int, error: str
    ) -> None:
        """Keeps a command relayed from another site that cannot be sent here as failed, with the
        reason, so that site hears why (it is reported like any relayed command's state)."""
        now = self._clock()
        row = {
            "ticket": ticket[:64], "site": None, "device": device[:255], "action": action[:16], "path": path,
            "value": value, "timeout_ms": max(expires_ms - now, 0), "state": CommandState.FAILED.value,
            "error": error, "created_ms": now, "expires_ms": expires_ms, "updated_ms": now, "relayed": True,
        }  # fmt: skip
        with contextlib.suppress(IntegrityError), self._catalog.session(write=True) as session:
            session.execute(insert(DeviceCommand).values(row))  # kept once, whatever comes again

    def get(self, ticket: str) -> Command | None:
        command = self._read(ticket)
        if command is not None and not command.final and command.expires_ms <= self._clock():
            self._expire(ticket)
            command = self._read(ticket)
        return command

    def list(
        self,
        *,
        device: str | None = None,
        site: str | None = None,
        state: str | None = None,
        limit: int = 100,
        tenant: str | None = None,
    ) -> builtins.list[Command]:
        """Newest first; `None` filters nothing (`tenant`: only commands to its devices)."""
        self.expire_due()
        query = select(DeviceCommand).order_by(DeviceCommand.created_ms.desc(), DeviceCommand.ticket.desc())
        if tenant is not None:
            prefix = Scope(tenant).prefix
            mine = DeviceCommand.device.startswith(prefix, autoescape=True)
            query = query.where(mine if prefix else ~DeviceCommand.device.startswith("@"))
        if device is not None:
            query = query.where(DeviceCommand.device == device)
        if site is not None:
            query = query.where(DeviceCommand.site == site)
        if state is not None:
            query = query.where(DeviceCommand.state == CommandState(state).value)
        return self._select(query.limit(limit))

    def advance(self, ticket: str, state: str, *, value: Any = None, error: str | None = None) -> bool:
        """Moves a command forward to `state` with the device's answer; False when that is not forward
        (or the command is unknown, or past its expiry unless `state` is expired)."""
        target, now = CommandState(state), self._clock()
        earlier = [s for s in PENDING_STATES if CommandState(s).rank < target.rank]
        if not earlier:
            return False
        statement = update(DeviceCommand).where(
            DeviceCommand.ticket == ticket, DeviceCommand.state.in_(earlier)
        )
        if target != CommandState.EXPIRED:
            statement = statement.where(DeviceCommand.expires_ms > now)
        changes: dict[str, Any] = {"state": target.value, "updated_ms": now}
        if value is not None:
            changes["result"] = value
        if error is not None:
            changes["error"] = error
        return self._update(statement.values(changes)) == 1

    def queued_for_site(
        self,
        site: str | None,
        limit: int,
        transport: str | None = None,
        devices: Sequence[str] | None = None,
    ) -> builtins.list[Command]:
        """Queued commands not yet expired, oldest first; `site` None: this platform's own devices,
        those of `transport` alone when it is given, and of `devices` alone when they are (the LwM2M
        deliverer's: those listening now, so commands for the others never fill its batch)."""
        query = select(DeviceCommand).where(
            DeviceCommand.state == CommandState.QUEUED.value,
            DeviceCommand.expires_ms > self._clock(),
            DeviceCommand.site.is_(None) if site is None else DeviceCommand.site == site,
        )
        if transport is not None:
            query = query.where(DeviceCommand.transport == transport)
        oldest = (DeviceCommand.created_ms, DeviceCommand.ticket)
        if devices is None:
            return self._select(query.order_by(*oldest).limit(limit))
        found = []  # a query per slice of devices: a database takes only so many parameters
        for start in range(0, len(devices), _DEVICES_PER_QUERY):
            chunk = devices[start : start + _DEVICES_PER_QUERY]
            found += self._select(query.where(DeviceCommand.device.in_(chunk)).order_by(*oldest).limit(limit))
        return sorted(found, key=lambda command: (command.created_ms, command.ticket))[:limit]

    def unreported(self, limit: int) -> builtins.list[Command]:
        """Commands created with a given ticket whose state differs from the one last reported, oldest
        change first."""
        self.expire_due()
        query = select(DeviceCommand).where(
            DeviceCommand.relayed.is_(True),
            DeviceCommand.reported.is_(None) | (DeviceCommand.reported != DeviceCommand.state),
        )
        return self._select(query.order_by(DeviceCommand.updated_ms, DeviceCommand.ticket).limit(limit))

    def mark_reported(self, ticket: str, state: str) -> bool:
        """Records that `state` was reported upstream; False for an unknown ticket."""
        statement = update(DeviceCommand).where(DeviceCommand.ticket == ticket)
        return self._update(statement.values(reported=CommandState(state).value)) == 1

    def expire_due(self) -> int:
        """Stores as expired every command past its expiry that is not final; returns how many. Only
        looks while none is: a write would take SQLite's one writer each time."""
        due = select(DeviceCommand.ticket).where(
            DeviceCommand.state.in_(PENDING_STATES), DeviceCommand.expires_ms <= self._clock()
        )
        with self._catalog.session() as session:
            found = session.scalar(due.limit(1))
        return 0 if found is None else self._expire()

    def _expire(self, ticket: str | None = None) -> int:
        now = self._clock()
        statement = update(DeviceCommand).where(
            DeviceCommand.state.in_(PENDING_STATES), DeviceCommand.expires_ms <= now
        )
        if ticket is not None:
            statement = statement.where(DeviceCommand.ticket == ticket)
        return self._update(statement.values(state=CommandState.EXPIRED.value, updated_ms=now))

    def _transport(self, device: str) -> str:
        """LwM2M for an endpoint that registered with the LwM2M server (in the default tenant, where it
        puts them), MQTT for any other device."""
        if device.startswith("@"):
            return MQTT
        named = select(Thing.properties).where(Thing.name == device, Thing.tenant == DEFAULT_TENANT)
        with self._catalog.session() as session:
            found = session.scalars(named).all()
        return LWM2M if any(isinstance(p, dict) and "lwm2m" in p for p in found) else MQTT

    def _read(self, ticket: str) -> Command | None:
        found = self._select(select(DeviceCommand).where(DeviceCommand.ticket == ticket))
        return found[0] if found else None

    def _select(self, query: Select[DeviceCommand]) -> builtins.list[Command]:
        with self._catalog.session() as session:
            return [_command(row) for row in session.scalars(query)]

    def _update(self, statement: Update) -> int:
        with self._catalog.session(write=True) as session:
            result = session.execute(statement.execution_options(synchronize_session=False))
        return cast("CursorResult[Any]", result).rowcount  # what an UPDATE's execution returns


def _command(row: DeviceCommand) -> Command:
    return Command(
        ticket=row.ticket,
        site=row.site,
        device=row.device,
        action=row.action,
        path=row.path,
        value=row.value,
        timeout_ms=row.timeout_ms,
        state=row.state,
        result=row.result,
        error=row.error,
        created_ms=row.created_ms,
        expires_ms=row.expires_ms,
        updated_ms=row.updated_ms,
        relayed=row.relayed,
        reported=row.reported,
        transport=row.transport,
    )
