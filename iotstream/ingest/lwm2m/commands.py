"""Commands to LwM2M devices: the commands API's device-management operations (read, write, execute,
discover, write-attributes, create, delete; `requests`) as CoAP requests to the registered endpoint,
and its answer as the command's outcome.

The catalog holds the commands (`relay.commands.CommandStore`, transport `lwm2m`); this deliverer,
on the LwM2M server's event loop, looks for queued ones when a command is created in this process,
when a device registers or updates, and every `poll_s` (for those other processes create). A command
waits queued while its device is not registered, and while a device in queue mode sleeps: such a
device listens only for a while (`awake_ms`) after its Register or Update, so its commands go out
when it next sends one. Each device gets its commands one at a time, oldest first, each claimed
(`sent`) just before it goes: of several `lwm2m` processes on one catalog, one sends it.

A 2.xx answer makes the command succeeded (a read's value decoded from whatever format the device
chose), any other code failed with the code and the device's diagnostic, no answer by the command's
expiry expired. CoAP's acknowledgement comes with the answer, so `delivered` is skipped.
"""

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import aiocoap
from aiocoap import error as coap_error

from iotstream.ingest.lwm2m.registrations import Registration
from iotstream.ingest.lwm2m.requests import CoapRequest, Outcome, outcome_of, request_of
from iotstream.relay.command_rules import Command, CommandState, InvalidCommandError
from iotstream.relay.commands import LWM2M, CommandStore

__all__ = ["Lwm2mCommands"]

_log = logging.getLogger(__name__)
Reach = Callable[[str], tuple[Registration, aiocoap.Context, Any] | None]  # endpoint → how to reach it
_METHODS = {"GET": aiocoap.GET, "PUT": aiocoap.PUT, "POST": aiocoap.POST, "DELETE": aiocoap.DELETE}
_LOOK_S = 0.05  # how often the wait for work looks at the store's (thread) wakeup


class Lwm2mCommands:
    """The deliverer of the LwM2M server (see the module's docstring); `sent` counts its requests."""

    def __init__(
        self,
        store: CommandStore,
        awake_ms: int = 93_000,
        *,
        poll_s: float = 0.5,
        sweep_s: float = 1.0,
        batch: int = 100,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`awake_ms`: how long a device in queue mode listens after its Register or Update (LwM2M's
        default is CoAP's MAX_TRANSMIT_WAIT, 93 s)."""
        self._store = store
        self._awake_ms = awake_ms
        self._poll_s, self._sweep_s, self._batch = poll_s, sweep_s, batch
        self._clock = clock
        self._wakeup = store.wakeup(LWM2M)  # set by commands created in this process
        self._woken = asyncio.Event()
        self._busy: set[str] = set()  # devices with a command on its way
        self._tasks: set[asyncio.Task[None]] = set()
        self._catalog_ok = True
        self.sent = 0

    def wake(self) -> None:
        """A device registered or updated: its waiting commands may go now. On the event loop."""
        self._woken.set()

    async def run(self, reach: Reach, endpoints: Callable[[], Iterable[str]], stop: asyncio.Event) -> None:
        """Until `stop`: `endpoints` are those registered now, `reach` how to send one requests."""
        next_sweep = 0.0
        try:
            while not stop.is_set():
                ready = [e for e in endpoints() if e not in self._busy and self._listening(reach(e))]
                queued: list[Command] = []
                if ready:
                    found = await self._catalog(self._store.queued_for_site, None, self._batch, LWM2M, ready)
                    queued = found or []
                for device, commands in _by_device(queued).items():
                    self._start(reach, device, commands)
                if time.monotonic() >= next_sweep:
                    await self._catalog(self._store.expire_due)
                    next_sweep = time.monotonic() + self._sweep_s
                if len(queued) < self._batch:  # else: more of them, for devices not busy yet
                    await self._until_woken(stop)
        finally:
            for task in list(self._tasks):
                task.cancel()

    async def _until_woken(self, stop: asyncio.Event) -> None:
        deadline = time.monotonic() + self._poll_s
        while not (stop.is_set() or self._woken.is_set() or self._wakeup.is_set()):
            if time.monotonic() >= deadline:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), _LOOK_S)
        self._woken.clear()
        self._wakeup.clear()  # before the look: a command created meanwhile wakes the next

    def _start(self, reach: Reach, device: str, commands: list[Command]) -> None:
        self._busy.add(device)
        task = asyncio.create_task(self._send_all(reach, device, commands))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda done: self._done(device, done))

    def _done(self, device: str, task: "asyncio.Task[None]") -> None:
        """The device may get its next commands; what ended its task is said (a command it had
        claimed expires, unanswered)."""
        self._busy.discard(device)
        if not task.cancelled() and (error := task.exception()) is not None:
            _log.error("lwm2m: commands to %s failed", device, exc_info=error)

    def _listening(self, target: tuple[Registration, aiocoap.Context, Any] | None) -> bool:
        """Registered, and awake unless in queue mode: its commands may go now."""
        if target is None:
            return False
        registration = target[0]
        asleep_ms = self._clock() * 1000 - registration.renewed_ms
        return not registration.queue or asleep_ms <= self._awake_ms

    async def _send_all(self, reach: Reach, device: str, commands: list[Command]) -> None:
        """One at a time, each while the device still listens (a queue-mode device may fall asleep
        meanwhile: the rest wait for it to wake again)."""
        for command in commands:
            target = reach(device)
            if target is None or not self._listening(target):
                return
            if await self._catalog(self._store.advance, command.ticket, CommandState.SENT):
                state, value, error = await self._send(target[1], target[2], command)
                await self._catalog(self._store.advance, command.ticket, state, value=value, error=error)

    async def _send(self, context: aiocoap.Context, remote: Any, command: Command) -> Outcome:
        where = f"lwm2m:{command.device}{command.path}"
        try:
            request = request_of(command.action, command.path, command.value)
        except InvalidCommandError as err:  # checked when created; a newer rule may refuse it
            return Outcome("failed", None, f"not an LwM2M request: {err}")
        pending = context.request(_message(request, remote))
        self.sent += 1
        left_s = command.expires_ms / 1000 - self._clock()
        try:
            answer = await asyncio.wait_for(pending.response, max(left_s, 0.001))
        except TimeoutError:
            _log.info("%s: no answer to command %s by its expiry", where, command.ticket)
            return Outcome("expired", None, None)
        except coap_error.Error as err:
            _log.info("%s: command %s failed: %s", where, command.ticket, err)
            reason = err.__cause__ or err  # aiocoap's network errors say what happened in their cause
            return Outcome("failed", None, f"the device could not be reached: {reason}")
        fmt = None if answer.opt.content_format is None else int(answer.opt.content_format)
        successful, location = answer.code.is_successful(), tuple(answer.opt.location_path)
        return outcome_of(request, successful, str(answer.code), answer.payload, fmt, location)

    async def _catalog(self, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`work` on a worker thread (the catalog blocks); None when the catalog does not answer,
        which is logged once, not raised: the next turn tries again."""
        try:
            result = await asyncio.to_thread(work, *args, **kwargs)
        except Exception as err:
            if self._catalog_ok:
                _log.warning("lwm2m commands: the catalog does not answer (%s)", err, exc_info=True)
            self._catalog_ok = False
            return None
        if not self._catalog_ok:
            _log.info("lwm2m commands: the catalog answers again")
        self._catalog_ok = True
        return result


def _by_device(commands: list[Command]) -> dict[str, list[Command]]:
    grouped: defaultdict[str, list[Command]] = defaultdict(list)
    for command in commands:
        grouped[command.device].append(command)
    return grouped


def _message(request: CoapRequest, remote: Any) -> aiocoap.Message:
    options: dict[str, Any] = {"uri_path": tuple(map(str, request.path)), "uri_query": request.query}
    if request.content_format is not None:
        options["content_format"] = request.content_format
    if request.accept is not None:
        options["accept"] = request.accept
    message = aiocoap.Message(code=_METHODS[request.method], payload=request.payload, **options)
    message.remote = remote
    return message
