"""The tokens an MQTT broker must know: iotstream writes mosquitto's password and ACL files from
these whenever `changes()` moves or a token expires."""

import time
from collections.abc import Callable

from sqlalchemy import func, select

from iotstream.registry.access.models import AccessEpoch, ApiToken, System, Tenant
from iotstream.registry.access.store import TokenInfo, token_info
from iotstream.registry.catalog import Catalog

__all__ = ["BrokerAccounts"]


class BrokerAccounts:
    def __init__(self, catalog: Catalog, clock: Callable[[], int] | None = None) -> None:
        self.catalog = catalog
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)

    def valid(self) -> list[tuple[TokenInfo, str]]:
        """The API tokens valid now, each with its hash for mosquitto's password file."""
        now = self._clock()
        with self.catalog.session() as session:
            query = select(ApiToken).where(
                ApiToken.kind == "api",
                ApiToken.revoked_ms.is_(None),
                ApiToken.mqtt_hash.is_not(None),
                (ApiToken.expires_ms.is_(None)) | (ApiToken.expires_ms > now),
            )
            rows = session.scalars(query.order_by(ApiToken.id)).all()
            return [(token_info(session, row), row.mqtt_hash or "") for row in rows]

    def all_systems(self) -> dict[str, list[str]]:
        with self.catalog.session() as session:
            query = select(Tenant.name, System.name).join(System, System.tenant_id == Tenant.id)
            found: dict[str, list[str]] = {}
            for tenant, system in session.execute(query.order_by(Tenant.name, System.name)):
                found.setdefault(tenant, []).append(system)
            return found

    def changes(self) -> tuple[int, ...]:
        """Moves whenever a token or system is created or a token revoked: what the MQTT broker's
        password and ACL files are made of (with the clock: tokens expire)."""
        with self.catalog.session() as session:
            tokens = session.execute(select(func.count(), func.max(ApiToken.created_ms))).one()
            systems = session.scalar(select(func.count()).select_from(System)) or 0
            return (session.scalar(select(AccessEpoch.epoch)) or 0, tokens[0], tokens[1] or 0, systems)

    def next_expiry(self) -> int | None:
        """When the next valid API token expires."""
        with self.catalog.session() as session:
            query = select(func.min(ApiToken.expires_ms)).where(
                ApiToken.kind == "api", ApiToken.revoked_ms.is_(None), ApiToken.expires_ms > self._clock()
            )
            return session.scalar(query)
