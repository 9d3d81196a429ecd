"""requirements.lock against pyproject.toml and the installed venv: `make` installs exactly the lock
(pip's hash-checking mode, no resolving), so a dependency missing from it, or a pin below a bound that
pyproject.toml raised, would only show on a fresh machine."""

import re
import tomllib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

ROOT = Path(__file__).parents[2]
PROJECT = canonicalize_name("iotstream")
EXTRAS = ("dev",)  # the lock is the dev set: `make test`, `make demo` and `make bench` all install it


def _lock_entries(lock: str = "requirements.lock") -> list[tuple[Requirement, list[str]]]:
    """Each locked requirement with its hashes; comments dropped, continuation lines joined."""
    text = (ROOT / lock).read_text()
    logical = re.sub(r"\\\n", " ", re.sub(r"#.*", "", text))
    entries = []
    for line in filter(None, (line.strip() for line in logical.splitlines())):
        requirement, *options = line.split(" --")
        hashes = [
            option.strip().removeprefix("hash=sha256:") for option in options if option.startswith("hash=")
        ]
        entries.append((Requirement(requirement.strip()), hashes))
    return entries


def _pins() -> dict[NormalizedName, str]:
    pins: dict[NormalizedName, str] = {}
    for requirement, _ in _lock_entries():
        (spec,) = requirement.specifier
        pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def _direct_requirements() -> list[Requirement]:
    """[project] dependencies and those of EXTRAS, with the project's own extras it names expanded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional, pending = project["optional-dependencies"], list(EXTRAS)
    found, seen = [Requirement(text) for text in project["dependencies"]], set(pending)
    while pending:
        for requirement in map(Requirement, optional[pending.pop()]):
            if canonicalize_name(requirement.name) != PROJECT:
                found.append(requirement)
                continue
            pending += [extra for extra in requirement.extras if extra not in seen]
            seen |= requirement.extras
    return found


def _applies(requirement: Requirement, extras: set[str]) -> bool:
    marker = requirement.marker
    return marker is None or any(marker.evaluate({"extra": extra}) for extra in extras | {""})


def _requires(name: str) -> list[str]:
    try:
        return metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        return []  # test_the_installed_versions_are_the_locked_ones names it if it is locked


def _named(requirement: Requirement) -> str:
    extras = ",".join(sorted(requirement.extras))
    return f"{requirement.name}[{extras}]" if extras else requirement.name


def _closure() -> Iterator[tuple[NormalizedName, str]]:
    """Every distribution the direct requirements pull in (their extras included), with who wants it."""
    pending = [(requirement, "pyproject.toml") for requirement in _direct_requirements()]
    seen: set[NormalizedName] = set()
    while pending:
        requirement, wanted_by = pending.pop()
        name = canonicalize_name(requirement.name)
        yield name, wanted_by
        if name in seen:
            continue
        seen.add(name)
        for needed in map(Requirement, _requires(requirement.name)):
            if _applies(needed, requirement.extras):
                pending.append((needed, _named(requirement)))


def test_every_lock_entry_is_one_exact_pin_with_hashes() -> None:
    entries = _lock_entries()
    names = [canonicalize_name(requirement.name) for requirement, _ in entries]
    assert len(names) > 50
    assert sorted({name for name in names if names.count(name) > 1}) == [], "locked more than once"
    for requirement, hashes in entries:
        assert [spec.operator for spec in requirement.specifier] == ["=="], requirement
        assert hashes, f"{requirement} has no --hash=sha256:"
        assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in hashes), requirement


def test_every_dependency_is_locked_within_its_pyproject_bounds() -> None:
    pins = _pins()
    for requirement in _direct_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} (pyproject.toml) is not in requirements.lock: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside pyproject.toml's {requirement}"
        )


def test_what_the_dependencies_and_their_extras_pull_in_is_locked() -> None:
    pins = _pins()
    missing = {f"{name} (for {wanted_by})" for name, wanted_by in _closure() if name not in pins}
    assert sorted(missing) == [], "not in requirements.lock: run make lock"
    assert {"uvloop", "httptools", "websockets", "psycopg-binary"} <= {name for name, _ in _closure()}


def test_the_installed_versions_are_the_locked_ones() -> None:
    def installed(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    differing = {name: (pin, installed(name)) for name, pin in _pins().items() if installed(name) != pin}
    assert differing == {}, "(locked, installed) differ: run make, or make lock on purpose"


def test_the_dtls_extra_is_locked_apart_with_its_hash_within_its_bound() -> None:
    """The `dtls` extra builds from source (gcc, autoconf), so it has a lock of its own that `make dtls`
    installs, outside the one `make demo` needs."""
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    [(locked, hashes)] = _lock_entries("requirements-dtls.lock")
    [wanted] = map(Requirement, optional["dtls"])
    assert canonicalize_name(locked.name) == canonicalize_name(wanted.name)
    [pin] = locked.specifier
    assert pin.operator == "=="
    assert wanted.specifier.contains(pin.version)
    assert hashes
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in hashes)
    assert metadata.version(locked.name) == pin.version, "run make dtls"
