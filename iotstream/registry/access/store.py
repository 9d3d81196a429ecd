"""Tenants, systems, users and tokens in the catalog, each change written to the audit trail in the
same transaction: the CLI, the admin API and the login page all change them through here."""

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from iotstream.exceptions import IotStreamError
from iotstream.registry.access.models import AccessEpoch, ApiToken, AuditEntry, System, Tenant, User
from iotstream.registry.access.principal import DEFAULT_TENANT, Role, check_name
from iotstream.registry.access.secrets import check_password, hash_password, mosquitto_hash, new_token
from iotstream.registry.catalog import Catalog

__all__ = [
    "AccessError",
    "AccessStore",
    "ConflictError",
    "NotFoundError",
    "TokenInfo",
    "audit",
    "bump_epoch",
    "token_info",
]


class AccessError(IotStreamError):
    status = 400


class NotFoundError(AccessError):
    status = 404


class ConflictError(AccessError):
    status = 409


@dataclass(frozen=True)
class TokenInfo:
    id: str
    tenant: str
    role: str
    system: str | None
    kind: str
    description: str
    user: str | None
    created_ms: int
    expires_ms: int | None
    revoked_ms: int | None

    def document(self) -> dict[str, Any]:
        return asdict(self)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class AccessStore:
    def __init__(self, catalog: Catalog, clock: Callable[[], int] = _now_ms) -> None:
        self.catalog = catalog
        self._clock = clock
        self.on_revoke: list[Callable[[], None]] = []  # told after each revocation commits

    # tenants and systems

    def create_tenant(
        self,
        name: str,
        *,
        actor: str,
        max_readings_per_s: float | None = None,
        max_datastreams: int | None = None,
    ) -> dict[str, Any]:
        _checked("tenant", name)
        with self.catalog.session(write=True) as session:
            if session.scalar(select(Tenant.id).where(Tenant.name == name)) is not None:
                raise ConflictError(f"tenant {name!r} exists")
            tenant = Tenant(
                name=name,
                created_ms=self._clock(),
                max_readings_per_s=max_readings_per_s,
                max_datastreams=max_datastreams,
            )
            session.add(tenant)
            limits = {"max_readings_per_s": max_readings_per_s, "max_datastreams": max_datastreams}
            self._audit(session, name, actor, "tenant.create", name, limits)
        return _tenant_document(tenant)

    def tenants(self) -> list[dict[str, Any]]:
        with self.catalog.session() as session:
            return [_tenant_document(t) for t in session.scalars(select(Tenant).order_by(Tenant.name))]

    def tenant(self, name: str) -> dict[str, Any]:
        with self.catalog.session() as session:
            return _tenant_document(_tenant(session, name))

    def create_system(self, tenant: str, name: str, *, actor: str) -> dict[str, Any]:
        _checked("system", name)
        with self.catalog.session(write=True) as session:
            owner = _tenant(session, tenant)
            taken = select(System.id).where(System.tenant_id == owner.id, System.name == name)
            if session.scalar(taken) is not None:
                raise ConflictError(f"system {name!r} of tenant {tenant!r} exists")
            session.add(System(tenant_id=owner.id, name=name, created_ms=self._clock()))
            self._audit(session, tenant, actor, "system.create", f"{tenant}/{name}")
        return {"tenant": tenant, "name": name}

    def systems(self, tenant: str) -> list[str]:
        with self.catalog.session() as session:
            owner = _tenant(session, tenant)
            query = select(System.name).where(System.tenant_id == owner.id).order_by(System.name)
            return list(session.scalars(query))

    # tokens

    def create_token(
        self,
        tenant: str,
        role: Role,
        *,
        actor: str,
        system: str | None = None,
        expires_in_ms: int | None = None,
        description: str = "",
    ) -> tuple[TokenInfo, str]:
        """The new token's description and the token itself, which is shown this once and never kept."""
        if expires_in_ms is not None and expires_in_ms <= 0:
            raise AccessError(f"a token's lifetime must be positive, got {expires_in_ms} ms")
        with self.catalog.session(write=True) as session:
            owner = _tenant(session, tenant)
            system_id = None if system is None else _system(session, owner, system).id
            row = ApiToken(
                tenant_id=owner.id, system_id=system_id, role=str(role), kind="api", description=description
            )
            token = self._issue(session, row, expires_in_ms)
            row.mqtt_hash = mosquitto_hash(token)  # devices log in to MQTT with it
            detail = {"role": str(role), "system": system, "expires_ms": row.expires_ms}
            self._audit(session, tenant, actor, "token.create", row.id, detail)
            return token_info(session, row), token

    def tokens(self, tenant: str | None = None, *, sessions: bool = False) -> list[TokenInfo]:
        """Tokens, oldest first: of one tenant or every one; users' login sessions only when asked."""
        with self.catalog.session() as session:
            query = select(ApiToken).order_by(ApiToken.created_ms, ApiToken.id)
            if tenant is not None:
                query = query.where(ApiToken.tenant_id == _tenant(session, tenant).id)
            if not sessions:
                query = query.where(ApiToken.kind == "api")
            return [token_info(session, row) for row in session.scalars(query)]

    def revoke_token(self, token_id: str, *, actor: str, tenant: str | None = None) -> TokenInfo:
        """Revokes at once in this process and within moments in every other one (see `verifier`);
        `tenant` confines it to that tenant's tokens."""
        with self.catalog.session(write=True) as session:
            row = session.get(ApiToken, token_id)
            if row is None or (tenant is not None and _tenant_name(session, row.tenant_id) != tenant):
                raise NotFoundError(f"no token {token_id!r}")
            revoking = row.revoked_ms is None
            if revoking:
                row.revoked_ms = self._clock()
                bump_epoch(session)
                self._audit(session, _tenant_name(session, row.tenant_id), actor, "token.revoke", token_id)
            info = token_info(session, row)
        if revoking:
            for forget in self.on_revoke:
                forget()
        return info

    def token_row(self, token_id: str) -> tuple[ApiToken, str, str | None, str | None, float | None] | None:
        """A token with its tenant's name, its system's, its user's and the tenant's rate limit."""
        with self.catalog.session() as session:
            row = session.get(ApiToken, token_id)
            if row is None:
                return None
            tenant = session.get_one(Tenant, row.tenant_id)
            system = None if row.system_id is None else session.get_one(System, row.system_id).name
            user = None if row.user_id is None else session.get_one(User, row.user_id).name
            return row, tenant.name, system, user, tenant.max_readings_per_s

    # users and their sessions

    def create_user(
        self, name: str, password: str, tenant: str, role: Role, *, actor: str, system: str | None = None
    ) -> dict[str, Any]:
        if not name.strip():
            raise AccessError("a user's name must not be empty")
        if len(password) < 8:
            raise AccessError("a password must have at least 8 characters")
        password_hash = hash_password(password)  # slow on purpose: outside the write lock
        with self.catalog.session(write=True) as session:
            if session.scalar(select(User.id).where(User.name == name)) is not None:
                raise ConflictError(f"user {name!r} exists")
            owner = _tenant(session, tenant)
            system_id = None if system is None else _system(session, owner, system).id
            session.add(
                User(
                    name=name,
                    tenant_id=owner.id,
                    system_id=system_id,
                    role=str(role),
                    password_hash=password_hash,
                    created_ms=self._clock(),
                )
            )
            self._audit(session, tenant, actor, "user.create", name, {"role": str(role), "system": system})
        return {"name": name, "tenant": tenant, "role": str(role), "system": system}

    def login(self, name: str, password: str, ttl_ms: int) -> tuple[str, TokenInfo] | None:
        """A session token for the user, or None when the name or password is wrong."""
        with self.catalog.session() as session:
            user = session.scalar(select(User).where(User.name == name, User.disabled.is_(False)))
        if user is None or not check_password(password, user.password_hash):
            return None
        with self.catalog.session(write=True) as session:
            row = ApiToken(
                tenant_id=user.tenant_id,
                system_id=user.system_id,
                user_id=user.id,
                role=user.role,
                kind="session",
                description="login",
            )
            token = self._issue(session, row, ttl_ms)
            return token, token_info(session, row)

    def _issue(self, session: Session, row: ApiToken, lifetime_ms: int | None) -> str:
        """Give a new token row its id, secret and times; the token, to be shown once."""
        row.id, token, row.secret_hash = new_token()
        row.created_ms = self._clock()
        row.expires_ms = None if lifetime_ms is None else row.created_ms + lifetime_ms
        session.add(row)
        return token

    # the audit trail

    def audit(self, tenant: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest entries first."""
        with self.catalog.session() as session:
            query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            if tenant is not None:
                query = query.where(AuditEntry.tenant == tenant)
            return [
                {"at_ms": e.at_ms, "tenant": e.tenant, "actor": e.actor, "action": e.action}
                | {"target": e.target, "detail": e.detail}
                for e in session.scalars(query)
            ]

    def _audit(
        self,
        session: Session,
        tenant: str,
        actor: str,
        action: str,
        target: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        audit(session, self._clock(), tenant, actor, action, target, detail)


def audit(
    session: Session, at_ms: int, tenant: str, actor: str, action: str, target: str, detail: Any = None
) -> None:
    """One entry of the audit trail, in the transaction of the change it records."""
    entry = AuditEntry(at_ms=at_ms, tenant=tenant, actor=actor, action=action, target=target)
    entry.detail = detail
    session.add(entry)


def _checked(kind: str, name: str) -> None:
    try:
        check_name(kind, name)
    except ValueError as err:
        raise AccessError(str(err)) from None


def _tenant(session: Session, name: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        raise NotFoundError(f"no tenant {name!r}")
    return tenant


def _tenant_name(session: Session, tenant_id: int) -> str:
    return session.get_one(Tenant, tenant_id).name


def _system(session: Session, tenant: Tenant, name: str) -> System:
    query = select(System).where(System.tenant_id == tenant.id, System.name == name)
    system = session.scalar(query)
    if system is None:
        raise NotFoundError(f"no system {name!r} in tenant {tenant.name!r}")
    return system


def bump_epoch(session: Session) -> None:
    """Every verifier re-reads what it cached (a revoked token, a changed share) at its next check."""
    session.execute(update(AccessEpoch).where(AccessEpoch.id == 1).values(epoch=AccessEpoch.epoch + 1))


def _tenant_document(tenant: Tenant) -> dict[str, Any]:
    return {
        "name": tenant.name,
        "created_ms": tenant.created_ms,
        "max_readings_per_s": tenant.max_readings_per_s,
        "max_datastreams": tenant.max_datastreams,
        "default": tenant.name == DEFAULT_TENANT,
    }


def token_info(session: Session, row: ApiToken) -> TokenInfo:
    """What may be shown of a token row (never its hashes)."""
    session.flush()
    system = None if row.system_id is None else session.get_one(System, row.system_id).name
    user = None if row.user_id is None else session.get_one(User, row.user_id).name
    return TokenInfo(
        id=row.id,
        tenant=_tenant_name(session, row.tenant_id),
        role=row.role,
        system=system,
        kind=row.kind,
        description=row.description,
        user=user,
        created_ms=row.created_ms,
        expires_ms=row.expires_ms,
        revoked_ms=row.revoked_ms,
    )
