"""What the routes need to know of access control: who is asking (`principal_of`) and whether their
tenant may send more readings right now (`RateLimiter`)."""

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import HTTPException
from starlette.requests import HTTPConnection
from starlette.types import Scope as AsgiScope

from iotstream.api.gate import PRINCIPAL
from iotstream.registry.access import OPEN, AccessStore, Principal, Scope, ScopeError, TokenVerifier
from iotstream.registry.access.config import AuthSettings

__all__ = ["Access", "RateLimiter", "key_of", "principal_in", "principal_of"]


class RateLimiter:
    """A token bucket per tenant, holding at most one second of its rate. A request is let in while the
    bucket is not empty and takes all its readings from it, so a batch larger than a second's worth
    still passes, and the requests after it wait until the bucket has refilled."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._levels: dict[str, tuple[float, float]] = {}  # tenant → (level, when)
        self._lock = threading.Lock()
        self.refused: dict[str, int] = {}  # requests refused, by tenant (for /metrics)

    def admit(self, tenant: str, rate: float) -> float | None:
        """None when the tenant may send now, else the seconds until it may."""
        now = self._clock()
        with self._lock:
            level, when = self._levels.get(tenant, (rate, now))
            level = min(rate, level + (now - when) * rate)
            self._levels[tenant] = (level, now)
            if level > 0:
                return None
            self.refused[tenant] = self.refused.get(tenant, 0) + 1
            return -level / rate if level < 0 else 1 / rate

    def take(self, tenant: str, readings: int) -> None:
        with self._lock:
            level, when = self._levels.get(tenant, (0.0, self._clock()))
            self._levels[tenant] = (level - readings, when)


def retry_after_s(wait_s: float) -> int:
    return max(1, math.ceil(wait_s))


@dataclass
class Access:
    """Access control of one API process (None in `Services` when `[auth] enabled` is off)."""

    store: AccessStore
    verifier: TokenVerifier
    settings: AuthSettings
    limiter: RateLimiter = field(default_factory=RateLimiter)


def principal_in(scope: AsgiScope, access: Access | None) -> Principal:
    """The caller of a request that passed the gate; everyone is `OPEN` with access control off. A
    request that reached a route without a principal while it is on is refused (fail closed)."""
    principal = scope.get(PRINCIPAL)
    if principal is not None:
        assert isinstance(principal, Principal)  # noqa: S101 - only the gate sets it
        return principal
    if access is None:
        return OPEN
    raise HTTPException(401, "credentials needed")


def principal_of(connection: HTTPConnection) -> Principal:
    return principal_in(connection.scope, connection.app.state.services.access)


def key_of(scope: Scope, name: str) -> str:
    """The stream key of a datastream the caller named in a query; a name it may not use is a 404,
    like one that does not exist, so another tenant's names are not revealed."""
    try:
        return scope.read_key(name)
    except ScopeError:
        raise HTTPException(404, f"no datastream {name!r}") from None
