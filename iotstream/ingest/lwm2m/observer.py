"""Observing registered devices: each listed instance of an object whose sensor value iotstream knows
(IPSO 5700, as `objects` describes it) is observed as soon as the device registers, and every
notification becomes a reading of `<endpoint>/<object>/<instance>/<resource>`, at the device's time
when the payload carries one.

A first observe right after a registration may find the device not listening yet (lwm2m-node-lib
opens its port a moment later), so it is tried five times, 1, 2, 4 and 8 s apart. A notification that cannot
be read goes to `on_refused` with the reason; values that are not numbers give no reading. An
observation ends when its registration does: aiocoap answers the device's next notification with a
reset, which cancels it there (RFC 7641 3.6).
"""

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiocoap
from aiocoap import error as coap_error

from iotstream.ingest.lwm2m.content import ContentError, Path, decode
from iotstream.ingest.lwm2m.links import Link, objects
from iotstream.ingest.lwm2m.objects import describe
from iotstream.ingest.lwm2m.registrations import Registration

__all__ = ["Observer", "Watch"]

_log = logging.getLogger(__name__)
_ATTEMPTS = 5
_ANSWER_S = 10.0
Readings = Callable[[list[dict[str, Any]]], None]
Refused = Callable[[bytes, str, str], None]  # payload, reason, where from


@dataclass(frozen=True)
class Watch:
    """Which resources are observed: those `per_object` names in its objects' instances, else those of
    `default` that the object registry knows (`[lwm2m] observe` and `observe_default`)."""

    default: tuple[int, ...] = (5700,)
    per_object: Mapping[int, tuple[int, ...]] = field(default_factory=dict)

    def paths(self, links: list[Link]) -> list[Path]:
        found: list[Path] = []
        for o, i in objects(links):
            if i is None:
                continue
            if o in self.per_object:
                found += [(o, i, r) for r in self.per_object[o]]
            else:
                found += [(o, i, r) for r in self.default if describe(o, r) is not None]
        return found


class Observer:
    def __init__(
        self,
        on_readings: Readings,
        on_refused: Refused,
        watch: Watch = Watch(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._on_readings = on_readings
        self._on_refused = on_refused
        self._watch = watch
        self._clock = clock
        self._tasks: dict[str, list[asyncio.Task[None]]] = {}
        self.notifications = 0

    def watch(self, context: aiocoap.Context, registration: Registration, remote: Any) -> None:
        """Observe the known sensor values of a new registration's objects."""
        self.forget(registration.id)
        paths = self._watch.paths(registration.links)
        self._tasks[registration.id] = [
            asyncio.create_task(self._observe(context, registration.endpoint, remote, path)) for path in paths
        ]
        for task in self._tasks[registration.id]:
            task.add_done_callback(_said)

    def close(self) -> None:
        for reg_id in list(self._tasks):
            self.forget(reg_id)

    def forget(self, reg_id: str) -> None:
        """Stop observing a registration that ended (its device stops hearing back from us)."""
        for task in self._tasks.pop(reg_id, []):
            task.cancel()

    async def _observe(self, context: aiocoap.Context, endpoint: str, remote: Any, path: Path) -> None:
        where = f"lwm2m:{endpoint}/{'/'.join(map(str, path))}"
        for attempt in range(1, _ATTEMPTS + 1):
            message = aiocoap.Message(code=aiocoap.GET, uri_path=tuple(map(str, path)), observe=0)
            message.remote = remote
            request = context.request(message)
            try:
                first = await asyncio.wait_for(request.response, _ANSWER_S)
            except (coap_error.Error, TimeoutError) as err:
                _cancel(request.observation)  # aiocoap cancels it itself on a network error
                _log.info("%s: observe failed (%s), attempt %d of %d", where, err, attempt, _ATTEMPTS)
                await asyncio.sleep(2 ** (attempt - 1))
                continue
            if not first.code.is_successful():
                _log.warning("%s: the device answered %s to observe", where, first.code)
                return
            await self._follow(endpoint, path, first, request, where)
            return

    async def _follow(
        self, endpoint: str, path: Path, first: aiocoap.Message, request: Any, where: str
    ) -> None:
        self._take(endpoint, path, first, where)
        try:
            async for notification in request.observation:
                self._take(endpoint, path, notification, where)
        except coap_error.Error as err:  # the device went away or ended the observation
            _log.info("%s: observation ended: %s", where, err)
        finally:  # also when forgotten: the device's next notification is answered with a reset
            _cancel(request.observation)

    def _take(self, endpoint: str, path: Path, message: aiocoap.Message, where: str) -> None:
        self.notifications += 1
        fmt = message.opt.content_format
        try:
            values = decode(message.payload, None if fmt is None else int(fmt), path, self._clock)
        except ContentError as err:
            self._on_refused(message.payload, str(err), where)
            return
        now_ms = int(self._clock() * 1000)
        readings = [
            {
                "datastream": f"{endpoint}/{'/'.join(map(str, value.path))}",
                "time": value.time_ms or now_ms,
                "value": value.value,
            }
            for value in values
            if type(value.value) in (int, float)
        ]
        if readings:
            self._on_readings(readings)


def _cancel(observation: Any) -> None:
    """Cancels an observation unless it is already (aiocoap asserts it is not cancelled twice)."""
    if not observation.cancelled:
        observation.cancel()


def _said(task: "asyncio.Task[None]") -> None:
    """An observation that ended with an error says so: a task kept in `_tasks` is never collected,
    so asyncio would never report it."""
    if not task.cancelled() and (error := task.exception()) is not None:
        _log.error("lwm2m: an observation failed", exc_info=error)
