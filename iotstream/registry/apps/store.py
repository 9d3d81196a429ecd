"""Stream apps in the catalog: the API and `iotstream.toml` define them, the `jobs` role runs them and
reports how they are doing, and the token verifier reads whose output each tenant may see.

A share is an access grant: changing one bumps the access epoch, so every API process sees the change
at its next request (see `TokenVerifier`) — revoking a share stops the other tenant's reads at once.
"""

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from iotstream.exceptions import IotStreamError
from iotstream.registry.access.models import Tenant
from iotstream.registry.access.principal import Scope
from iotstream.registry.access.store import audit, bump_epoch
from iotstream.registry.apps import APPS_PREFIX
from iotstream.registry.apps.models import AppShare, StreamApp
from iotstream.registry.catalog import Catalog

__all__ = ["AppConflictError", "AppError", "AppInfo", "AppNotFoundError", "AppStore", "shared_prefixes"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_FILE = "iotstream.toml"  # the actor of what `[[jobs]]` declares


class AppError(IotStreamError):
    status = 400


class AppNotFoundError(AppError):
    status = 404


class AppConflictError(AppError):
    status = 409


@dataclass(frozen=True)
class AppInfo:
    tenant: str
    name: str
    sql: str
    out_of_orderness_ms: int
    allowed_lateness_ms: int
    paused: bool
    declared: bool
    share_with: list[str]
    created_ms: int
    updated_ms: int
    status: dict[str, Any] | None = field(default=None)
    status_ms: int | None = None

    def document(self) -> dict[str, Any]:
        return asdict(self)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class AppStore:
    def __init__(self, catalog: Catalog, clock: Callable[[], int] = _now_ms) -> None:
        self.catalog = catalog
        self._clock = clock
        self.on_share: list[Callable[[], None]] = []  # told after a change of who reads what commits

    def create(
        self,
        tenant: str,
        name: str,
        sql: str,
        *,
        actor: str,
        share_with: Iterable[str] = (),
        out_of_orderness_ms: int = 0,
        allowed_lateness_ms: int = 0,
        declared: bool = False,
    ) -> AppInfo:
        if not _NAME.match(name):
            raise AppError(
                f"app name {name!r} must be 1-63 lower-case letters, digits, '_' or '-',"
                " starting with a letter or digit"
            )
        now = self._clock()
        with self.catalog.session(write=True) as session:
            if _find(session, tenant, name) is not None:
                raise AppConflictError(f"app {name!r} exists")
            row = StreamApp(tenant=tenant, name=name, sql=sql, out_of_orderness_ms=out_of_orderness_ms)
            row.allowed_lateness_ms, row.paused, row.declared = allowed_lateness_ms, False, declared
            row.created_ms = row.updated_ms = now
            session.add(row)
            session.flush()
            self._share(session, row, sorted(set(share_with)), actor)
            audit(session, now, tenant, actor, "app.create", name, {"sql": sql})
            return _info(session, row)

    def apps(self, tenant: str | None = None) -> list[AppInfo]:
        """Every app of `tenant` (None: of every tenant), by tenant and name."""
        with self.catalog.session() as session:
            query = select(StreamApp).order_by(StreamApp.tenant, StreamApp.name)
            if tenant is not None:
                query = query.where(StreamApp.tenant == tenant)
            rows = list(session.scalars(query))
            shares: dict[int, list[str]] = {}
            listed = select(AppShare.app_id, AppShare.tenant).order_by(AppShare.tenant)
            for app_id, grantee in session.execute(listed.where(AppShare.app_id.in_([r.id for r in rows]))):
                shares.setdefault(app_id, []).append(grantee)
            return [_info(session, row, shares.get(row.id, [])) for row in rows]

    def app(self, tenant: str, name: str) -> AppInfo:
        with self.catalog.session() as session:
            return _info(session, _row(session, tenant, name))

    def pause(self, tenant: str, name: str, paused: bool, *, actor: str) -> AppInfo:
        with self.catalog.session(write=True) as session:
            row = _row(session, tenant, name)
            row.paused, row.updated_ms = paused, self._clock()
            audit(session, row.updated_ms, tenant, actor, "app.pause" if paused else "app.resume", name)
            return _info(session, row)

    def share(self, tenant: str, name: str, share_with: Iterable[str], *, actor: str) -> AppInfo:
        """Replace the tenants the app's output is shared with."""
        with self.catalog.session(write=True) as session:
            row = _row(session, tenant, name)
            row.updated_ms = self._clock()
            self._share(session, row, sorted(set(share_with)), actor)
            info = _info(session, row)
        self._shared()
        return info

    def delete(self, tenant: str, name: str, *, actor: str) -> None:
        with self.catalog.session(write=True) as session:
            row = _row(session, tenant, name)
            if row.declared:
                raise AppConflictError(f"app {name!r} is declared in iotstream.toml; remove it there")
            shared = bool(_shares(session, row))
            if shared:
                bump_epoch(session)
            session.delete(row)
            audit(session, self._clock(), tenant, actor, "app.delete", name)
        if shared:
            self._shared()

    def _shared(self) -> None:
        """Like `AccessStore.on_revoke`: this process's verifiers forget at once what they cached."""
        for listener in self.on_share:
            listener()

    def declare(self, apps: list[dict[str, Any]]) -> None:
        """Make the apps of `[[jobs]] type = "sql"` the declared ones: new ones created, changed ones
        updated, and declared apps no longer in the file deleted."""
        wanted = {(app["tenant"], app["name"]): app for app in apps}
        with self.catalog.session(write=True) as session:
            for row in session.scalars(select(StreamApp).where(StreamApp.declared.is_(True))):
                if (row.tenant, row.name) not in wanted:
                    session.delete(row)
        for (tenant, name), app in wanted.items():
            shares = app.get("share_with", ())
            try:
                self.create(
                    tenant, name, app["sql"], actor=_FILE, share_with=shares, declared=True, **_timing(app)
                )
            except (AppConflictError, IntegrityError):  # IntegrityError: another process declared it first
                self._update_declared(tenant, name, app)

    def _update_declared(self, tenant: str, name: str, app: dict[str, Any]) -> None:
        with self.catalog.session(write=True) as session:
            row = _row(session, tenant, name)
            values = (app["sql"], *_timing(app).values())
            if (row.sql, row.out_of_orderness_ms, row.allowed_lateness_ms) != values:
                row.sql, row.out_of_orderness_ms, row.allowed_lateness_ms = values
                row.updated_ms = self._clock()
            row.declared = True
            self._share(session, row, sorted(set(app.get("share_with", ()))), _FILE)

    def report(self, statuses: dict[tuple[str, str], dict[str, Any]]) -> None:
        """The `jobs` role's latest counters of the apps it runs."""
        now = self._clock()
        with self.catalog.session(write=True) as session:
            for (tenant, name), status in statuses.items():
                query = update(StreamApp).where(StreamApp.tenant == tenant, StreamApp.name == name)
                session.execute(query.values(status=status, status_ms=now))

    def shared_with(self, tenant: str) -> list[tuple[str, str]]:
        """(owner, app) of every app whose output `tenant` may read."""
        query = (
            select(StreamApp.tenant, StreamApp.name)
            .join(AppShare, AppShare.app_id == StreamApp.id)
            .where(AppShare.tenant == tenant)
            .order_by(StreamApp.tenant, StreamApp.name)
        )
        with self.catalog.session() as session:
            return [(owner, name) for owner, name in session.execute(query)]

    def _share(self, session: Session, row: StreamApp, tenants: list[str], actor: str) -> None:
        if row.tenant in tenants:
            raise AppError(f"app {row.name!r} belongs to tenant {row.tenant!r}; share it with others")
        known = set(session.scalars(select(Tenant.name).where(Tenant.name.in_(tenants))))
        unknown = [name for name in tenants if name not in known]
        if unknown:
            raise AppError(f"no tenant {', '.join(map(repr, unknown))} to share app {row.name!r} with")
        if _shares(session, row) == tenants:
            return
        session.execute(delete(AppShare).where(AppShare.app_id == row.id))
        session.add_all(AppShare(app_id=row.id, tenant=tenant) for tenant in tenants)
        bump_epoch(session)
        audit(session, self._clock(), row.tenant, actor, "app.share", row.name, {"tenants": tenants})


def shared_prefixes(catalog: Catalog, tenant: str) -> list[str]:
    """The stream-key prefixes of the app outputs other tenants share with `tenant`."""
    return [
        Scope(owner).key(f"{APPS_PREFIX}{name}/") for owner, name in AppStore(catalog).shared_with(tenant)
    ]


def _timing(app: dict[str, Any]) -> dict[str, int]:
    return {
        "out_of_orderness_ms": int(app.get("out_of_orderness_ms", 0)),
        "allowed_lateness_ms": int(app.get("allowed_lateness_ms", 0)),
    }


def _find(session: Session, tenant: str, name: str) -> StreamApp | None:
    return session.scalar(select(StreamApp).where(StreamApp.tenant == tenant, StreamApp.name == name))


def _row(session: Session, tenant: str, name: str) -> StreamApp:
    row = _find(session, tenant, name)
    if row is None:
        raise AppNotFoundError(f"no app {name!r}")
    return row


def _shares(session: Session, row: StreamApp) -> list[str]:
    query = select(AppShare.tenant).where(AppShare.app_id == row.id).order_by(AppShare.tenant)
    return list(session.scalars(query))


def _info(session: Session, row: StreamApp, shares: list[str] | None = None) -> AppInfo:
    """What may be shown of an app; `shares` when the caller read them already (for many apps)."""
    session.flush()
    return AppInfo(
        tenant=row.tenant,
        name=row.name,
        sql=row.sql,
        out_of_orderness_ms=row.out_of_orderness_ms,
        allowed_lateness_ms=row.allowed_lateness_ms,
        paused=row.paused,
        declared=row.declared,
        share_with=_shares(session, row) if shares is None else shares,
        created_ms=row.created_ms,
        updated_ms=row.updated_ms,
        status=row.status,
        status_ms=row.status_ms,
    )
