"""Tenants, their systems, users and tokens: who may see and change what (see `principal`)."""

from iotstream.registry.access.principal import DEFAULT_TENANT, OPEN, Principal, Role, Scope, ScopeError
from iotstream.registry.access.store import AccessError, AccessStore, ConflictError, NotFoundError, TokenInfo
from iotstream.registry.access.verifier import TokenVerifier

__all__ = [
    "DEFAULT_TENANT",
    "OPEN",
    "AccessError",
    "AccessStore",
    "ConflictError",
    "NotFoundError",
    "Principal",
    "Role",
    "Scope",
    "ScopeError",
    "TokenInfo",
    "TokenVerifier",
]
