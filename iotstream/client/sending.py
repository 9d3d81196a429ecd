"""Readings sent to `POST /api/v1/readings` in batches, patiently: a platform that is busy (503, 429)
or away for a while is waited for with backoff, so a long import or a device's backlog arrives whole.
Readings the platform rejects come back with their index and reason; re-sending is harmless, as a
reading keeps its message id (datastream, time and value) and is stored once."""

from typing import Any

import httpx
import msgspec

from iotstream.client._http import Call, aexecute, check, execute
from iotstream.client.exceptions import ClientError

__all__ = [
    "READINGS_PATH",
    "AsyncSender",
    "SendError",
    "Sender",
    "encoded_call",
    "readings_call",
    "rejected_of",
]

READINGS_PATH = "/api/v1/readings"
# Every failure of a send: the platform refused the batch itself (`RequestError`, not busy), or stayed
# away longer than allowed (`UnreachableError`). The importer catches them all under this name.
SendError = ClientError


def readings_call(readings: list[dict[str, Any]]) -> Call:
    """One batch as a request; msgspec encodes it several times faster than httpx's `json=`."""
    return Call("POST", READINGS_PATH, body=msgspec.json.encode(readings), idempotent=True)


def encoded_call(bodies: list[bytes]) -> Call:
    """A batch of readings each already JSON (as the disk buffer keeps them), joined without decoding."""
    return Call("POST", READINGS_PATH, body=b"[" + b",".join(bodies) + b"]", idempotent=True)


def rejected_of(answer: httpx.Response) -> list[tuple[int, str]]:
    """The (index, reason) of each reading a 202 answer rejected; raises for any other answer."""
    document = msgspec.json.decode(check(answer, 202).content)
    return [(item["index"], item["error"]) for item in document["rejected"]]


def _http(url: str, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=60)


class Sender:
    """Posts batches of readings over its own connection, or over `http` (which it then leaves open)."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        give_up_after_s: float = 120.0,
        http: httpx.Client | None = None,
    ) -> None:
        self._client = http if http is not None else _http(url, token)
        self._owned = http is None
        self.give_up_after_s = give_up_after_s

    def send(
        self, readings: list[dict[str, Any]], give_up_after_s: float | None = None
    ) -> list[tuple[int, str]]:
        """POST one batch until the platform takes it; the rejected readings' (index, reason)."""
        wait_s = self.give_up_after_s if give_up_after_s is None else give_up_after_s
        return rejected_of(execute(self._client, readings_call(readings), wait_s))

    def send_encoded(
        self, bodies: list[bytes], give_up_after_s: float | None = None
    ) -> list[tuple[int, str]]:
        """`send` for readings already JSON each."""
        wait_s = self.give_up_after_s if give_up_after_s is None else give_up_after_s
        return rejected_of(execute(self._client, encoded_call(bodies), wait_s))

    def close(self) -> None:
        if self._owned:
            self._client.close()


class AsyncSender:
    """`Sender` for asyncio, over an `httpx.AsyncClient` that its owner closes."""

    def __init__(self, http: httpx.AsyncClient, *, give_up_after_s: float = 120.0) -> None:
        self._client = http
        self.give_up_after_s = give_up_after_s

    async def send(
        self, readings: list[dict[str, Any]], give_up_after_s: float | None = None
    ) -> list[tuple[int, str]]:
        """POST one batch until the platform takes it; the rejected readings' (index, reason)."""
        wait_s = self.give_up_after_s if give_up_after_s is None else give_up_after_s
        return rejected_of(await aexecute(self._client, readings_call(readings), wait_s))

    async def send_encoded(
        self, bodies: list[bytes], give_up_after_s: float | None = None
    ) -> list[tuple[int, str]]:
        """`send` for readings already JSON each."""
        wait_s = self.give_up_after_s if give_up_after_s is None else give_up_after_s
        return rejected_of(await aexecute(self._client, encoded_call(bodies), wait_s))
