"""The catalog's tables of who may do what: tenants, their systems, users, tokens and the audit trail.

Tokens and session cookies are one table: a session is a token a user's login created. Secrets are
kept only as hashes. `access_epoch` counts revocations, so every API process notices one at its next
request without asking the database about each token.
"""

from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from iotstream.registry.models import Base

__all__ = ["AccessEpoch", "ApiToken", "AuditEntry", "System", "Tenant", "User"]


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    max_readings_per_s: Mapped[float | None] = mapped_column(Float)
    max_datastreams: Mapped[int | None] = mapped_column(Integer)


class System(Base):
    __tablename__ = "systems"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)  # what the login page asks for
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    system_id: Mapped[int | None] = mapped_column(ForeignKey("systems.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id, with its parameters and salt
    created_ms: Mapped[int] = mapped_column(BigInteger)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # public: shown in lists, logs, audit
    secret_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the secret part, hex
    mqtt_hash: Mapped[str | None] = mapped_column(Text)  # of the whole token, for mosquitto's password file
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    system_id: Mapped[int | None] = mapped_column(ForeignKey("systems.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))  # "api" or "session"
    description: Mapped[str] = mapped_column(Text, default="")
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int | None] = mapped_column(BigInteger)
    revoked_ms: Mapped[int | None] = mapped_column(BigInteger)


class AuditEntry(Base):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    tenant: Mapped[str] = mapped_column(String(63), index=True)  # whose entity it concerns
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None]


class AccessEpoch(Base):
    __tablename__ = "access_epoch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # the one row: 1
    epoch: Mapped[int] = mapped_column(BigInteger)
