"""The LwM2M registration interface's state: who is registered, where to reach them, until when.

A client registers (`POST /rd?ep=..&lt=..&lwm2m=..&b=..`, its objects as links), updates (`POST
/rd/<id>`, which renews the lifetime and may change its address, its binding or its objects) and
de-registers (`DELETE /rd/<id>`); a registration not renewed within its lifetime (plus a grace for
the network) expires. Registering again under the same endpoint name replaces the old registration.
Each change is returned as an event for the `lwm2m.registrations` topic, shaped like the zeelos
LwM2M→Kafka contract's registration records (ep, regId, address, port, lt, ver, bnd, links, ...).
"""

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from iotstream.ingest.lwm2m.links import Link, LinkFormatError, parse_links

__all__ = ["Registration", "RegistrationError", "Registrations"]

DEFAULT_LIFETIME_S = 86_400  # LwM2M's default when a client gives no `lt`


class RegistrationError(ValueError):
    """A request the registration interface refuses (4.00), with the reason."""


@dataclass(frozen=True)
class Registration:
    id: str
    endpoint: str
    lifetime_s: int
    version: str
    binding: str  # "U", "UQ" (queue mode, as LwM2M 1.0 writes it), ...
    queue: bool  # the client sleeps between uplinks: requests wait for its next one
    links: list[Link]
    address: tuple[str, int]
    registered_ms: int
    renewed_ms: int
    extra: dict[str, str] = field(default_factory=dict)  # query parameters LwM2M does not define

    def expires_ms(self, grace_ms: int) -> int:
        return self.renewed_ms + self.lifetime_s * 1000 + grace_ms

    def record(self, event: str, now_ms: int) -> dict[str, Any]:
        """The `lwm2m.registrations` record of this registration's `event` (new, update, delete,
        expired)."""
        return {
            "event": event,
            "ep": self.endpoint,
            "regId": self.id,
            "regDate": self.registered_ms,
            "lastUp": self.renewed_ms,
            "address": self.address[0],
            "port": self.address[1],
            "lt": self.lifetime_s,
            "ver": self.version,
            "bnd": self.binding,
            "queue": self.queue,
            "links": [{"url": link.path, "at": link.attributes} for link in self.links],
            "attributes": self.extra or None,
            "time": now_ms,
        }


class Registrations:
    """In memory, owned by the server's event loop (not thread-safe)."""

    def __init__(self, grace_ms: int = 30_000) -> None:
        self._grace_ms = grace_ms
        self._by_id: dict[str, Registration] = {}
        self._by_endpoint: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, reg_id: str) -> Registration | None:
        return self._by_id.get(reg_id)

    def endpoints(self) -> list[str]:
        return list(self._by_endpoint)

    def of_endpoint(self, endpoint: str) -> Registration | None:
        reg_id = self._by_endpoint.get(endpoint)
        return None if reg_id is None else self._by_id[reg_id]

    def register(
        self, query: Mapping[str, str], payload: str, address: tuple[str, int], now_ms: int
    ) -> tuple[Registration, list[dict[str, Any]]]:
        """A new registration from a Register request's query and links; raises RegistrationError."""
        endpoint = query.get("ep", "")
        if not endpoint:
            raise RegistrationError("a registration needs its endpoint name: ?ep=<name>")
        events = []
        if (old := self.of_endpoint(endpoint)) is not None:  # the client restarted: the old one is gone
            events.append(self._remove(old).record("delete", now_ms))
        binding = query.get("b", "U")
        registration = Registration(
            id=secrets.token_hex(4),
            endpoint=endpoint,
            lifetime_s=_lifetime(query.get("lt")),
            version=query.get("lwm2m", "1.0"),
            binding=binding,
            queue="Q" in query or "Q" in binding,
            links=_links(payload),
            address=address,
            registered_ms=now_ms,
            renewed_ms=now_ms,
            extra={k: v for k, v in query.items() if k not in ("ep", "lt", "lwm2m", "b", "Q", "sms")},
        )
        self._by_id[registration.id] = registration
        self._by_endpoint[endpoint] = registration.id
        return registration, [*events, registration.record("new", now_ms)]

    def update(
        self, reg_id: str, query: Mapping[str, str], payload: str, address: tuple[str, int], now_ms: int
    ) -> tuple[Registration, dict[str, Any]] | None:
        """The renewed registration (None: no such id, 4.04). The address is the Update's source: a
        client may have moved (lwm2m-node-lib changes its port on every update)."""
        old = self._by_id.get(reg_id)
        if old is None:
            return None
        changes: dict[str, Any] = {"address": address, "renewed_ms": now_ms}
        if "lt" in query:
            changes["lifetime_s"] = _lifetime(query["lt"])
        if "b" in query:
            changes |= {"binding": query["b"], "queue": "Q" in query or "Q" in query["b"]}
        elif "Q" in query:
            changes["queue"] = True
        if payload.strip():
            changes["links"] = _links(payload)
        renewed = replace(old, **changes)
        self._by_id[reg_id] = renewed
        return renewed, renewed.record("update", now_ms)

    def deregister(self, reg_id: str, now_ms: int) -> dict[str, Any] | None:
        registration = self._by_id.get(reg_id)
        return None if registration is None else self._remove(registration).record("delete", now_ms)

    def expire(self, now_ms: int) -> list[tuple[Registration, dict[str, Any]]]:
        """Remove the registrations whose lifetime (and grace) has passed, with their records."""
        due = [r for r in self._by_id.values() if r.expires_ms(self._grace_ms) <= now_ms]
        return [(self._remove(r), r.record("expired", now_ms)) for r in due]

    def next_expiry_ms(self) -> int | None:
        return min((r.expires_ms(self._grace_ms) for r in self._by_id.values()), default=None)

    def _remove(self, registration: Registration) -> Registration:
        del self._by_id[registration.id]
        if self._by_endpoint.get(registration.endpoint) == registration.id:
            del self._by_endpoint[registration.endpoint]
        return registration


def _lifetime(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIFETIME_S
    if not text.isdigit() or int(text) == 0:
        raise RegistrationError(f"lt={text!r}: the lifetime is a whole number of seconds above 0")
    return int(text)


def _links(payload: str) -> list[Link]:
    try:
        return parse_links(payload)
    except LinkFormatError as err:
        raise RegistrationError(f"the object links cannot be read: {err}") from None
