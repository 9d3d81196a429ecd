"""Checking a token on every request, at the cost of one tiny query.

Each process keeps the tokens it has seen with their principals. A revocation anywhere (the CLI, another
API process) bumps the catalog's `access_epoch`; every check reads the epoch first and forgets what it
knew once it moved, so a revoked token is refused at its next request, everywhere. Expiry needs no
query: the cached expiry time is compared with the clock.
"""

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from iotstream.registry.access.principal import Principal, Role
from iotstream.registry.access.secrets import secret_matches, split_token
from iotstream.registry.access.store import AccessStore

__all__ = ["TokenVerifier"]

_MAX_CACHED = 100_000
_Cached = tuple[Principal, int | None]  # the principal and when its token expires


class TokenVerifier:
    def __init__(self, store: AccessStore, clock: Callable[[], int] | None = None) -> None:
        self._store = store
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self._epoch = _EpochReader(store.catalog.engine)
        self._seen_epoch: int | None = None
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def verify(self, token: str) -> Principal | None:
        """The token's principal, or None for an unknown, wrong, revoked or expired token."""
        epoch = self._epoch.read()
        with self._lock:
            if epoch != self._seen_epoch:
                self._cache.clear()
                self._seen_epoch = epoch
            cached = self._cache.get(token)
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
        principal = Principal(tenant, Role[row.role], system, row.id, user, rate)
        return principal, row.expires_ms

    def close(self) -> None:
        self._epoch.close()


class _EpochReader:
    """One connection of its own, outside the pool and any transaction, so each read sees the latest
    commit (SQLite's connections here run in autocommit mode; PostgreSQL's is switched to it)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._connection: Any = None

    def read(self) -> int:
        with self._lock:
            try:
                return self._query()
            except Exception:
                self._reset()  # a dropped connection: one more try on a new one
                return self._query()

    def _query(self) -> int:
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
