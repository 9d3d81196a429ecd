"""The versions of what the numbers depend on, recorded next to them: a result is only comparable with
one measured on the same versions (requirements.lock pins the Python ones; mosquitto is Debian's)."""

import re
import subprocess
from importlib import metadata

from iotstream.ingest.mqtt_broker import find_mosquitto

__all__ = ["library_versions"]

LIBRARIES = (
    "duckdb",
    "pyarrow",
    "uvicorn",
    "starlette",
    "fastapi",
    "paho-mqtt",
    "msgspec",
    "httptools",
    "uvloop",
    "psycopg",
)


def library_versions() -> dict[str, str]:
    """Installed version of each library that matters for performance, "absent" for a missing one."""
    versions = {name: _installed(name) for name in LIBRARIES}
    versions["mosquitto"] = _mosquitto()
    return versions


def _installed(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def _mosquitto() -> str:
    """The version on the first line of `mosquitto -h` ("mosquitto version 2.0.11"), which exits non-zero."""
    binary = find_mosquitto()
    if binary is None:
        return "absent"
    run = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
    first = (run.stdout or run.stderr).partition("\n")[0]
    found = re.search(r"version (\S+)", first)
    return found.group(1) if found else first.strip() or "unknown"
