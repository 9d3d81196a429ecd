"""Requests as values, and the two loops (sync and asyncio) that carry them out with retries.

Everything the client asks of the platform is written once, as a *plan*: a generator that yields the
`Call`s it needs and is sent each answer (paging through readings, registering a Thing and reading
back its Datastreams). `run` and `arun` drive a plan over `httpx.Client` or `httpx.AsyncClient`, so the
sync and the asyncio client share every request and every parsing of an answer.

A call is retried while the platform is unreachable or busy (429, 502, 503, 504; `Retry-After` is honoured)
with exponential backoff, until `give_up_after_s` has passed. A call that changes something is retried
after a transport error only if nothing can have reached the server (a refused connection), unless it
is idempotent (readings are: they keep their message ids).
"""

import asyncio
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import msgspec

from iotstream.client.exceptions import AuthError, NotFoundError, RequestError, UnreachableError

__all__ = ["BUSY", "Call", "Plan", "Retrying", "aexecute", "arun", "check", "decoded", "execute", "run"]

T = TypeVar("T")
Plan = Generator["Call", httpx.Response, T]
BUSY = frozenset({429, 502, 503, 504})  # 502 and 504: a proxy in front of a platform that is away
_JSON = {"Content-Type": "application/json"}
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)  # the request never left this machine


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    idempotent: bool = True  # safe to send twice (GETs; readings, which keep their message ids)

    @classmethod
    def post(cls, path: str, document: Any, *, idempotent: bool = False) -> "Call":
        return cls("POST", path, body=msgspec.json.encode(document), idempotent=idempotent)

    @property
    def query(self) -> httpx.QueryParams:
        return httpx.QueryParams(tuple(self.params))

    @property
    def headers(self) -> dict[str, str]:
        return _JSON if self.body is not None else {}


class Retrying:
    """When to try a call again: doubling waits from `first_wait_s` up to `max_wait_s`, a server's
    `Retry-After` when it gives one, and `UnreachableError` once `give_up_after_s` would pass."""

    def __init__(
        self, where: str, give_up_after_s: float, first_wait_s: float = 0.2, max_wait_s: float = 10.0
    ) -> None:
        self._where = where
        self._give_up_after_s = give_up_after_s
        self._deadline = time.monotonic() + give_up_after_s
        self._wait_s = first_wait_s
        self._max_wait_s = max_wait_s

    def after(self, call: Call, outcome: httpx.Response | httpx.TransportError) -> float:
        """Seconds to wait before the next try of `call`, which failed with `outcome`."""
        if isinstance(outcome, httpx.TransportError):
            if not (call.idempotent or isinstance(outcome, _NOT_SENT)):
                raise UnreachableError(f"{call.method} {call.path}: {outcome}") from outcome
            problem, wait_s = f"cannot reach {self._where}: {outcome}", self._wait_s
        else:
            problem, wait_s = outcome.text[:200], _retry_after_s(outcome, self._wait_s)
        if time.monotonic() + wait_s > self._deadline:
            error = UnreachableError(f"gave up after {self._give_up_after_s:g} s: {problem}")
            raise error from (outcome if isinstance(outcome, Exception) else None)
        self._wait_s = min(self._wait_s * 2, self._max_wait_s)
        return wait_s


def _retry_after_s(answer: httpx.Response, default_s: float) -> float:
    try:
        return float(answer.headers.get("Retry-After", default_s))
    except ValueError:  # an HTTP date: rare enough to wait our own time instead
        return default_s


def execute(http: httpx.Client, call: Call, give_up_after_s: float) -> httpx.Response:
    """The answer to `call`, once the platform gives one that is not "busy"."""
    retrying = Retrying(str(http.base_url), give_up_after_s)
    while True:
        try:
            answer = http.request(
                call.method, call.path, params=call.query, content=call.body, headers=call.headers
            )
        except httpx.TransportError as err:
            time.sleep(retrying.after(call, err))
            continue
        if answer.status_code not in BUSY:
            return answer
        time.sleep(retrying.after(call, answer))


async def aexecute(http: httpx.AsyncClient, call: Call, give_up_after_s: float) -> httpx.Response:
    """`execute`, for asyncio."""
    retrying = Retrying(str(http.base_url), give_up_after_s)
    while True:
        try:
            answer = await http.request(
                call.method, call.path, params=call.query, content=call.body, headers=call.headers
            )
        except httpx.TransportError as err:
            await asyncio.sleep(retrying.after(call, err))
            continue
        if answer.status_code not in BUSY:
            return answer
        await asyncio.sleep(retrying.after(call, answer))


def run(plan: Plan[T], http: httpx.Client, give_up_after_s: float) -> T:
    """Carry out a plan: each call it yields is executed and its answer sent back in."""
    try:
        call = next(plan)
        while True:
            call = plan.send(execute(http, call, give_up_after_s))
    except StopIteration as done:
        result: T = done.value
        return result


async def arun(plan: Plan[T], http: httpx.AsyncClient, give_up_after_s: float) -> T:
    """`run`, for asyncio."""
    try:
        call = next(plan)
        while True:
            call = plan.send(await aexecute(http, call, give_up_after_s))
    except StopIteration as done:
        result: T = done.value
        return result


def check(answer: httpx.Response, *expected: int) -> httpx.Response:
    """The answer, if its status is one of `expected` (any 2xx when none); else the matching error."""
    status = answer.status_code
    if (status in expected) if expected else answer.is_success:
        return answer
    detail = _detail(answer)
    method, path = answer.request.method, answer.request.url.path
    kind = AuthError if status in (401, 403) else NotFoundError if status == 404 else RequestError
    raise kind(status, detail, method, path)


def _detail(answer: httpx.Response) -> str:
    """FastAPI's `detail`, SensorThings' `message`, or the start of the body."""
    try:
        document = answer.json()
    except ValueError:
        return answer.text[:500]
    if isinstance(document, dict):
        for name in ("detail", "message"):
            if name in document:
                return str(document[name])
    return answer.text[:500]


def decoded(answer: httpx.Response, *expected: int) -> Any:
    """The JSON of a successful answer."""
    return msgspec.json.decode(check(answer, *expected).content)
