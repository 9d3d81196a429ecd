"""Readings sent to `POST /api/v1/readings` in batches, patiently: a platform that is busy (503, 429)
or away for a while is waited for with backoff, so a long import or a device's backlog arrives whole.
Readings the platform rejects come back with their index and reason; re-sending is harmless, as a
reading keeps its message id (datastream, time and value) and is stored once."""

import time
from typing import Any

import httpx
import msgspec

__all__ = ["SendError", "Sender"]

_JSON = {"Content-Type": "application/json"}


class SendError(Exception):
    """The platform refused the batch itself (not busy), or stayed away longer than allowed."""


class Sender:
    def __init__(self, url: str, token: str | None = None, *, give_up_after_s: float = 120.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=60)
        self._give_up_after_s = give_up_after_s

    def send(self, readings: list[dict[str, Any]]) -> list[tuple[int, str]]:
        """POST one batch until the platform takes it; the rejected readings' (index, reason)."""
        deadline, wait_s = time.monotonic() + self._give_up_after_s, 0.2
        body = msgspec.json.encode(readings)  # several times faster than httpx's `json=`
        while True:
            try:
                answer = self._client.post("/api/v1/readings", content=body, headers=_JSON)
            except httpx.TransportError as err:
                problem, retry_s = f"cannot reach {self._client.base_url}: {err}", wait_s
            else:
                if answer.status_code == 202:
                    return [(item["index"], item["error"]) for item in answer.json()["rejected"]]
                if answer.status_code not in (429, 503):
                    raise SendError(f"the platform answered {answer.status_code}: {answer.text[:500]}")
                problem, retry_s = answer.text[:200], float(answer.headers.get("Retry-After", wait_s))
            if time.monotonic() + retry_s > deadline:
                raise SendError(f"gave up after {self._give_up_after_s:g} s: {problem}")
            time.sleep(retry_s)
            wait_s = min(wait_s * 2, 10.0)

    def close(self) -> None:
        self._client.close()
