"""`iotstream.client` runs on a device with httpx, msgspec and websockets only: imported in a fresh
interpreter that refuses every server-side package (and pandas, which is optional), it still builds a
client, buffers a reading on disk and decodes a live message. Once as part of the whole `iotstream`
package, once as the `iotstream-client` distribution has it (a namespace package holding `client`
alone)."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).parents[3]
SERVER_ONLY = [
    "pydantic", "pydantic_settings", "fastapi", "starlette", "uvicorn", "duckdb", "sqlalchemy", "alembic",
    "pyarrow", "typer", "rich", "paho", "amqtt", "confluent_kafka", "psycopg", "shapely", "sqlglot",
    "fastavro", "avro", "prometheus_client", "argon2", "cryptography", "odata_query", "jsonpatch",
    "pandas", "polars", "numpy",
]  # fmt: skip

PROGRAM = """
import importlib.abc, importlib.machinery, sys, types
REFUSED = set({refused!r})
ALONE = {alone!r}

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        server_module = ALONE and top == "iotstream" and not (name + ".").startswith("iotstream.client.")
        if top in REFUSED or server_module:
            raise ImportError(f"{{name}} must not be imported by the client")
        return None

sys.meta_path.insert(0, Refuse())
if ALONE:  # what site-packages holds with iotstream-client alone: no iotstream/__init__.py
    package = types.ModuleType("iotstream")
    package.__path__ = [{package!r}]
    package.__spec__ = importlib.machinery.ModuleSpec("iotstream", None, is_package=True)
    sys.modules["iotstream"] = package

from iotstream.client import Client, ClientError, ReadingEvent
from iotstream.client.events import decode

with Client("http://127.0.0.1:9", buffer={buffer!r}, give_up_after_s=0) as client:
    client.send("pump-1/flow", 12.5, 1714557600000)
    print("buffered", client.buffered)
events = decode('[{{"type":"reading","event":{{"datastream":"s","time":1,"value":2}}}}]')
assert isinstance(events[0], ReadingEvent), events
assert issubclass(ClientError, Exception)
loaded = sorted(name for name in sys.modules if name.partition(".")[0] in REFUSED)
print("loaded", loaded)
"""


@pytest.mark.parametrize("alone", [False, True], ids=["in-iotstream", "client-distribution"])
def test_the_client_needs_none_of_the_servers_packages(tmp_path: Path, alone: bool) -> None:
    program = PROGRAM.format(
        refused=SERVER_ONLY, alone=alone, package=str(REPO / "iotstream"), buffer=str(tmp_path / "buffer")
    )
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(program)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "buffered 1" in done.stdout
    assert "loaded []" in done.stdout
