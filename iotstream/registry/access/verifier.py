"""Checking a token on every request without asking the database each time.

Each process keeps the tokens it has seen with their principals. A revocation anywhere (the CLI, another
API process) bumps the catalog's `access_epoch`, which a check reads when its last reading is older
than 50 ms; when it moved, everything known is forgotten. So a revoked token is refused everywhere
within 50 ms of the revocation's commit, and at once in the process that revoked it (the store tells
its verifiers). A query per request cost a third of a one-reading request under load (each database
call gives up the GIL, and the event loop waits to get it back behind the busy writer threads), and so
did a thread polling every 10 ms. Expiry needs no query at all: the cached expiry time is compared
with the clock.
"""

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from iotstream.registry.access.principal import Principal, Role
from iotstream.registry.access.secrets import secret_matches, split_token
from iotstream.registry.access.store import AccessStore
from iotstream.registry.apps.store import shared_prefixes

__all__ = ["TokenVerifier"]

_MAX_CACHED = 100_000
_Cached = tuple[Principal, int | None]  # the principal and when its token expires


class TokenVerifier:
    def __init__(
        self, store: AccessStore, clock: Callable[[], int] | None = None, every_s: float = 0.05
    ) -> None:
        self._store = store
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self._epoch = _Epoch(store.catalog.engine, every_s)
        self._seen_epoch: int | None = None
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()
        store.on_revoke.append(self.forget)

    def forget(self) -> None:
        """Drop what is known of every token: each is looked up again at its next use."""
        with self._lock:
            self._cache.clear()

    def verify(self, token: str) -> Principal | None:
        """The token's principal, or None for an unknown, wrong, revoked or expired token."""
        epoch = self._epoch.current()
        if epoch != self._seen_epoch:
            with self._lock:
                self._cache.clear()
                self._seen_epoch = epoch
        cached = self._cache.get(token)  # a dict lookup needs no lock
        if cached is None:
            cached = self._load(token)
            if cached is None:
                return None
            with self._lock:
                if len(self._cache) >= _MAX_CACHED:
                    self._cache.clear()
                self._cache[token] = cached
        principal, expires_ms = cached
        if expires_ms is not None and self._clock() >= expires_ms:
            return None
        return principal

    def _load(self, token: str) -> _Cached | None:
        parts = split_token(token)
        if parts is None:
            return None
        token_id, secret = parts
        found = self._store.token_row(token_id)
        if found is None:
            return None
        row, tenant, system, user, rate = found
        if row.revoked_ms is not None or not secret_matches(secret, row.secret_hash):
            return None
        shared = tuple(shared_prefixes(self._store.catalog, tenant))
        principal = Principal(tenant, Role[row.role], system, row.id, user, rate, shared=shared)
        return principal, row.expires_ms

    def close(self) -> None:
        self._epoch.close()


class _Epoch:
    """The catalog's revocation epoch as last read, read again when that is older than `every_s`; over
    one connection outside the pool and any transaction, so each read sees the latest commit (SQLite's
    connections here run in autocommit mode; PostgreSQL's is switched to it)."""

    def __init__(self, engine: Engine, every_s: float) -> None:
        self._engine = engine
        self._every_s = every_s
        self._connection: Any = None
        self._lock = threading.Lock()
        self._value = 0
        self._read_at = float("-inf")

    def current(self) -> int:
        if time.monotonic() - self._read_at < self._every_s:
            return self._value
        with self._lock:
            if time.monotonic() - self._read_at >= self._every_s:
                try:
                    self._value = self._read()
                except Exception:  # a dropped connection: one more try on a new one
                    self._reset()
                    self._value = self._read()
                self._read_at = time.monotonic()
            return self._value

    def _read(self) -> int:
        if self._connection is None:
            self._connection = self._engine.raw_connection()
            if self._engine.dialect.name == "postgresql":
                self._connection.driver_connection.autocommit = True
        cursor = self._connection.cursor()
        try:
            cursor.execute("SELECT epoch FROM access_epoch WHERE id = 1")
            row = cursor.fetchone()
        finally:
            cursor.close()
        return int(row[0]) if row else 0

    def _reset(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()
            finally:
                self._connection = None

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
