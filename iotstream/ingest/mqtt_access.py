"""Who may publish and subscribe where on the embedded MQTT broker, with `[auth] enabled`.

A device logs in with its token's id as the user name and the token as the password. Each tenant has
its own topic namespace, the first level of the topic: `@acme/iotstream/+/readings` is tenant acme's
readings topic, `@acme.b1/…` that of its system b1; the default tenant's topics have no such level. A
token may read (and with the writer role, write) its namespace's readings topic only; a tenant-wide
token also its systems'. So a device can neither publish into nor read another tenant's topics, and
the ingestion knows from the topic whose readings a message carries.

mosquitto gets this as its password and ACL files, written from the catalog whenever a token is
created, revoked or expires (mosquitto re-reads them on SIGHUP and drops connections whose
credentials no longer hold); the amqtt fallback asks `MqttAccess` on every connection, publication,
subscription and delivery.
"""

import functools
import secrets
from dataclasses import dataclass

from iotstream.registry.access import Principal, Role, Scope, TokenVerifier
from iotstream.registry.access.accounts import BrokerAccounts
from iotstream.registry.access.principal import DEFAULT_TENANT
from iotstream.registry.access.secrets import mosquitto_hash

__all__ = ["INTERNAL_USER", "Grant", "MqttAccess", "covers", "grants", "scope_of_topic"]

INTERNAL_USER = "iotstream"  # iotstream's own clients: every topic
_STA = "v1.1/#"
_COMMANDS = ("iotstream/+/commands", "iotstream/+/responses")


@dataclass(frozen=True)
class Grant:
    topic: str  # a topic filter
    write: bool  # publish, besides subscribe and receive


def namespace(tenant: str, system: str | None) -> str:
    """The first topic level of a tenant's (or its system's) topics; "" for the default tenant's."""
    if system is not None:
        return f"@{tenant}.{system}"
    return "" if tenant == DEFAULT_TENANT else f"@{tenant}"


def scope_of_topic(topic: str) -> tuple[Scope, str]:
    """Whose names a message on `topic` carries, and the topic within that namespace."""
    if not topic.startswith("@"):
        return _DEFAULT_SCOPE, topic
    first, _, rest = topic.partition("/")
    tenant, _, system = first[1:].partition(".")
    return _scope(tenant, system or None), rest


_DEFAULT_SCOPE = Scope()


@functools.lru_cache(maxsize=4096)
def _scope(tenant: str, system: str | None) -> Scope:
    """One `Scope` per namespace, not per message: a scope works out its key prefix once."""
    return Scope(tenant, system)


def grants(principal: Principal, systems: list[str], readings_topic: str) -> list[Grant]:
    """What a token may do: its namespaces' readings topic; a tenant-wide token also its tenant's
    SensorThings topics, and with the writer role its devices' command topics (to hear commands and
    answer them)."""
    if principal.system is not None:
        spaces = [namespace(principal.tenant, principal.system)]
    else:
        spaces = [namespace(principal.tenant, None), *(namespace(principal.tenant, s) for s in systems)]
    write = principal.may(Role.writer)
    found = [Grant(f"{space}/{readings_topic}" if space else readings_topic, write) for space in spaces]
    if principal.system is None:  # SensorThings entities and devices' commands belong to a whole tenant
        space = f"{spaces[0]}/" if spaces[0] else ""
        found.append(Grant(f"{space}{_STA}", write))
        if write:
            found += [Grant(f"{space}{_COMMANDS[0]}", False), Grant(f"{space}{_COMMANDS[1]}", True)]
    return found


def covers(grant: str, wanted: str) -> bool:
    """Whether the filter `grant` takes in every topic of `wanted` (a topic, or a filter to subscribe)."""
    granted, asked = grant.split("/"), wanted.split("/")
    for at, level in enumerate(granted):
        if level == "#":
            return True
        if at >= len(asked) or asked[at] == "#":
            return False
        if level != "+" and level != asked[at]:
            return False
    return len(asked) == len(granted)


def _systems_in(principal: Principal, topic: str) -> list[str]:
    """The system whose namespace `topic` is in, when a tenant-wide token may use it."""
    scope, _ = scope_of_topic(topic)
    if principal.system is None and scope.tenant == principal.tenant and scope.system is not None:
        return [scope.system]
    return []


class MqttAccess:
    def __init__(
        self,
        accounts: BrokerAccounts,
        verifier: TokenVerifier | None,
        readings_topic: str,
        internal: tuple[str, str] | None = None,
    ) -> None:
        """`internal`: the user name and password of iotstream's own clients (every topic); by default
        `iotstream` with a password made for this start. `verifier` checks tokens at each use (amqtt);
        without it only `mosquitto_files` is of use."""
        self.accounts = accounts
        self._verifier = verifier
        self._readings_topic = readings_topic
        self.user, self.password = internal or (INTERNAL_USER, secrets.token_urlsafe(24))

    def principal(self, user: str | None, password: str | None) -> Principal | None:
        """The token's principal when `user` is its id (None for the internal user and for failures)."""
        if user is None or password is None or self._verifier is None:
            return None
        principal = self._verifier.verify(password)
        if principal is None or principal.token_id != user:
            return None
        return principal

    def internal(self, user: str | None, password: str | None) -> bool:
        return user == self.user and secrets.compare_digest(password or "", self.password)

    def allowed(self, user: str | None, password: str | None, topic: str, *, write: bool) -> bool:
        """Checked again at each use: a revoked token can no longer publish or receive, at once."""
        if self.internal(user, password):
            return True
        principal = self.principal(user, password)
        if principal is None:
            return False
        found = grants(principal, _systems_in(principal, topic), self._readings_topic)
        return any(covers(g.topic, topic) and (g.write or not write) for g in found)

    def mosquitto_files(self) -> tuple[str, str]:
        """mosquitto's password file and ACL file for the tokens valid now."""
        passwords = [f"{self.user}:{mosquitto_hash(self.password)}"]
        acl = [f"user {self.user}", "topic readwrite #", ""]
        systems = self.accounts.all_systems()
        for token, mqtt_hash in self.accounts.valid():
            principal = Principal(token.tenant, Role[token.role], token.system, token.id)
            passwords.append(f"{token.id}:{mqtt_hash}")
            acl.append(f"user {token.id}")
            for grant in grants(principal, systems.get(token.tenant, []), self._readings_topic):
                acl.append(f"topic {'readwrite' if grant.write else 'read'} {grant.topic}")
            acl.append("")
        return "\n".join(passwords) + "\n", "\n".join(acl)
