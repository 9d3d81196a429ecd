"""Tenants, tokens and users in the catalog; scopes that map names to stream keys."""

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from iotstream.registry.access import (
    AccessError,
    AccessStore,
    ConflictError,
    NotFoundError,
    Role,
    Scope,
    ScopeError,
    TokenVerifier,
)
from iotstream.registry.catalog import open_catalog

Verifiers = Callable[..., TokenVerifier]


@pytest.fixture
def store(tmp_path: Path) -> AccessStore:
    return AccessStore(open_catalog(f"sqlite:///{tmp_path}/registry.db"))


@pytest.fixture
def verifiers() -> Iterator[Verifiers]:
    """Make verifiers; each is closed (its epoch thread stopped) after the test."""
    made: list[TokenVerifier] = []

    def make(store: AccessStore, **options: Any) -> TokenVerifier:
        made.append(TokenVerifier(store, **options))
        return made[-1]

    yield make
    for verifier in made:
        verifier.close()


def test_a_tenants_names_become_its_keys_and_back() -> None:
    acme = Scope("acme")
    assert acme.key("house1/power") == "@acme/house1/power"
    with pytest.raises(ScopeError, match="reserved for tenants"):  # it would read as another tenant's
        acme.key("@odd")
    assert acme.name("@acme/house1/power") == "house1/power"
    assert acme.name("house1/power") is None
    assert acme.name("@acmeco/house1/power") is None
    assert acme.name("@globex/house1/power") is None


def test_shared_app_outputs_are_read_by_their_owners_name_and_never_written() -> None:
    globex = Scope("globex", shared=("@acme/apps/hot/", "apps/dflt/"))
    assert globex.read_key("@acme/apps/hot/t1") == "@acme/apps/hot/t1"
    assert globex.read_key("@default/apps/dflt/t1") == "apps/dflt/t1"
    assert globex.read_key("t1") == "@globex/t1"
    for other in ("@acme/t1", "@acme/apps/cold/t1", "@default/t1", "@acme/apps/hotter/t1"):
        with pytest.raises(ScopeError):
            globex.read_key(other)
    with pytest.raises(ScopeError, match="reserved for tenants"):
        globex.key("@acme/apps/hot/t1")  # what a reading is sent to: never another tenant's
    keys = {
        "@acme/apps/hot/t1",
        "apps/dflt/t2",
        "@acme/t1",
        "apps/other/t",
        "@globex/mine",
        "@acme/apps/hotter",
    }
    assert globex.visible_keys(keys) == {
        "@acme/apps/hot/t1": "@acme/apps/hot/t1",
        "apps/dflt/t2": "@default/apps/dflt/t2",
        "@globex/mine": "mine",
    }


def test_the_default_tenant_keeps_plain_keys_and_may_not_name_a_tenants() -> None:
    default = Scope()
    assert default.key("house1/power") == "house1/power"
    with pytest.raises(ScopeError, match="reserved for tenants"):
        default.key("@acme/house1/power")
    assert default.name("@acme/house1/power") is None
    assert Scope(everything=True).name("@acme/house1/power") == "@acme/house1/power"


def test_a_system_sees_only_names_under_it() -> None:
    b1 = Scope("acme", "b1")
    assert b1.key("b1/temp") == "@acme/b1/temp"
    with pytest.raises(ScopeError, match="system 'b1'"):
        b1.key("b2/temp")
    assert b1.visible_keys({"@acme/b1/temp", "@acme/b2/temp", "b1/temp"}) == {"@acme/b1/temp": "b1/temp"}


def test_tokens_carry_tenant_role_and_system(store: AccessStore, verifiers: Verifiers) -> None:
    store.create_tenant("acme", actor="test", max_readings_per_s=50)
    store.create_system("acme", "b1", actor="test")
    info, token = store.create_token("acme", Role.writer, actor="test", system="b1")
    principal = verifiers(store).verify(token)
    assert principal is not None
    assert (principal.tenant, principal.role, principal.system) == ("acme", Role.writer, "b1")
    assert principal.max_readings_per_s == 50
    assert principal.token_id == info.id
    assert token not in repr(store.tokens())  # only its hash is kept
    assert [t.id for t in store.tokens("acme")] == [info.id]


@pytest.mark.parametrize(
    "mangle", [lambda t: t + "x", lambda t: t[:-1], lambda t: "iot_" + "0" * 12 + "_x", lambda t: "nope"]
)
def test_a_wrong_token_is_refused(store: AccessStore, mangle: object, verifiers: Verifiers) -> None:
    _, token = store.create_token("default", Role.reader, actor="test")
    assert callable(mangle)
    assert verifiers(store).verify(mangle(token)) is None


def test_a_revocation_by_another_process_is_seen_within_the_watch_interval(
    store: AccessStore, tmp_path: Path, verifiers: Verifiers
) -> None:
    info, token = store.create_token("default", Role.reader, actor="test")
    verifier = verifiers(store, every_s=0.01)
    assert verifier.verify(token) is not None
    other = AccessStore(open_catalog(f"sqlite:///{tmp_path}/registry.db"))  # the CLI's own connection
    other.revoke_token(info.id, actor="cli")
    revoked_at = time.monotonic()
    while verifier.verify(token) is not None:
        assert time.monotonic() - revoked_at < 0.2, "still accepted 200 ms after its revocation"
        time.sleep(0.001)


def test_a_revocation_in_this_process_is_seen_at_the_next_check(
    store: AccessStore, verifiers: Verifiers
) -> None:
    info, token = store.create_token("default", Role.reader, actor="test")
    verifier = verifiers(store, every_s=3600)  # the watch would not notice in time
    assert verifier.verify(token) is not None
    store.revoke_token(info.id, actor="admin api")
    assert verifier.verify(token) is None


def test_an_expired_token_is_refused_without_asking_the_catalog(
    store: AccessStore, verifiers: Verifiers
) -> None:
    now = [1_000_000]
    clock_store = AccessStore(store.catalog, clock=lambda: now[0])
    _, token = clock_store.create_token("default", Role.reader, actor="test", expires_in_ms=60_000)
    verifier = verifiers(clock_store, clock=lambda: now[0])
    assert verifier.verify(token) is not None
    now[0] += 60_000
    assert verifier.verify(token) is None


def test_names_are_checked_and_duplicates_refused(store: AccessStore) -> None:
    with pytest.raises(AccessError, match="lower-case"):
        store.create_tenant("Acme Inc", actor="test")
    store.create_tenant("acme", actor="test")
    with pytest.raises(ConflictError):
        store.create_tenant("acme", actor="test")
    with pytest.raises(NotFoundError, match="no tenant 'nope'"):
        store.create_token("nope", Role.reader, actor="test")
    with pytest.raises(NotFoundError, match="no system 'b9'"):
        store.create_token("acme", Role.reader, actor="test", system="b9")
    with pytest.raises(AccessError, match="positive"):
        store.create_token("acme", Role.reader, actor="test", expires_in_ms=0)


def test_a_tenant_confined_revocation_does_not_reach_another_tenants_token(store: AccessStore) -> None:
    store.create_tenant("acme", actor="test")
    info, _ = store.create_token("default", Role.reader, actor="test")
    with pytest.raises(NotFoundError):
        store.revoke_token(info.id, actor="acme admin", tenant="acme")
    assert store.tokens("default")[0].revoked_ms is None


def test_users_log_in_with_argon2_hashed_passwords(store: AccessStore, verifiers: Verifiers) -> None:
    store.create_tenant("acme", actor="test")
    store.create_user("ann", "correct horse", "acme", Role.reader, actor="test")
    assert store.login("ann", "wrong horse", 60_000) is None
    assert store.login("bob", "correct horse", 60_000) is None
    session = store.login("ann", "correct horse", 60_000)
    assert session is not None
    token, info = session
    assert (info.kind, info.user, info.tenant) == ("session", "ann", "acme")
    assert verifiers(store).verify(token) is not None
    with store.catalog.session() as s:
        stored = s.connection().exec_driver_sql("SELECT password_hash FROM users").scalar_one()
    assert stored.startswith("$argon2id$")
    assert store.tokens("acme") == []  # sessions are not listed with the API tokens
    with pytest.raises(AccessError, match="at least 8"):
        store.create_user("cy", "short", "acme", Role.reader, actor="test")


def test_every_change_is_in_the_audit_trail(store: AccessStore) -> None:
    store.create_tenant("acme", actor="cli root@host")
    info, _ = store.create_token("acme", Role.admin, actor="cli root@host")
    store.revoke_token(info.id, actor="token abc (admin of default)")
    trail = store.audit("acme")
    assert [(e["action"], e["actor"]) for e in trail] == [
        ("token.revoke", "token abc (admin of default)"),
        ("token.create", "cli root@host"),
        ("tenant.create", "cli root@host"),
    ]
    assert trail[1]["target"] == info.id
    assert trail[1]["detail"]["role"] == "admin"
