"""Tenants' datastream quotas (`max_datastreams`), checked when readings name datastreams not seen
before: the readings of one that would pass its tenant's quota are refused, each with the reason."""

import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy import select

from iotstream.registry.access.models import Tenant
from iotstream.registry.access.principal import owner_of
from iotstream.registry.catalog import Catalog

__all__ = ["DatastreamQuotas"]

_FRESH_S = 5.0  # limits are read again this often (and at once for a tenant not seen yet)


class DatastreamQuotas:
    def __init__(self, catalog: Catalog, keys: Callable[[], Iterable[str]]) -> None:
        """`keys()`: every stream key registered now."""
        self._catalog = catalog
        self._keys = keys
        self._limits: dict[str, int | None] = {}
        self._read_at = float("-inf")
        self._lock = threading.Lock()
        self.refused: dict[str, int] = {}  # new datastreams refused, by tenant (for /metrics)

    def __call__(self, new: set[str]) -> dict[str, str]:
        """Of the new stream keys, those refused, each with the reason."""
        wanted: dict[str, list[str]] = {}
        for key in sorted(new):
            wanted.setdefault(owner_of(key)[0], []).append(key)
        refusals: dict[str, str] = {}
        for tenant, keys in wanted.items():
            limit = self._limit(tenant)
            if limit is None:
                continue
            have = sum(1 for key in self._keys() if owner_of(key)[0] == tenant)
            over = keys[max(limit - have, 0) :]
            for key in over:
                refusals[key] = (
                    f"datastream {owner_of(key)[1]!r} is new, and tenant {tenant!r} has its"
                    f" {limit} datastreams (max_datastreams)"
                )
            with self._lock:
                self.refused[tenant] = self.refused.get(tenant, 0) + len(over)
        return refusals

    def _limit(self, tenant: str) -> int | None:
        with self._lock:
            stale = time.monotonic() - self._read_at > _FRESH_S or tenant not in self._limits
            if stale:
                with self._catalog.session() as session:
                    rows = session.execute(select(Tenant.name, Tenant.max_datastreams)).all()
                    self._limits = {name: limit for name, limit in rows}
                self._read_at = time.monotonic()
            return self._limits.get(tenant)
