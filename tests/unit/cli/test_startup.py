"""The CLI loads a command's heavy modules only when that command runs: `iotstream --help`, `import`
and every other command started in several seconds when each loaded the web stack, the database layer
and the stores first."""

import subprocess
import sys

import pytest

HEAVY = (
    "fastapi",
    "uvicorn",
    "sqlalchemy",
    "duckdb",
    "odata_query",
    "shapely",
    "fastavro",
    "pymodbus",
    "aiocoap",
    "cbor2",
    "cryptography",  # `certs dev` only
    "sqlglot",  # only where a stream app is configured
)


def _loaded(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint(' '.join(sorted(m for m in sys.modules if '.' not in m)))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    return set(out.stdout.split())


def test_the_cli_loads_no_server_stack_to_start() -> None:
    loaded = _loaded("import iotstream.cli.main")
    assert loaded.isdisjoint(HEAVY), sorted(loaded.intersection(HEAVY))


@pytest.mark.parametrize("package", ["iotstream.roles", "iotstream.registry.access"])
def test_a_package_loads_its_parts_on_first_use(package: str) -> None:
    assert "sqlalchemy" not in _loaded(f"import {package}")
    names = _loaded(f"import {package}\nfor name in {package}.__all__: getattr({package}, name)")
    assert "sqlalchemy" in names  # each name still resolves, from the module that defines it


def test_an_unknown_name_is_an_attribute_error() -> None:
    import iotstream.roles

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        iotstream.roles.Nope  # noqa: B018 - the lookup is the test


def test_the_importers_file_reading_loads_no_http_client() -> None:
    """`iotstream import` without `--url` reads files with `iotstream.client.files`: the client
    package's names load with their modules, so httpx and websockets stay out."""
    loaded = _loaded("import iotstream.client.files")
    assert loaded.isdisjoint({"httpx", "websockets"}), sorted(loaded & {"httpx", "websockets"})
