"""The REST API fuzzed from its own OpenAPI document by schemathesis, run as a new user runs it: the
`st` command against `iotstream up`, every operation, with examples, the coverage phase (boundary and
invalid values of each parameter) and random fuzzing, a fixed seed and a bounded number of examples.

Every check runs but one: `positive_data_acceptance` (a request the schema allows must be accepted)
asks for more than JSON Schema can say - that a schema registry body holds a valid Avro schema, that
`from` comes before `to`, that a SensorThings Datastream names an existing Thing. Such requests are
answered 400/422 with the reason, which the status-code and response-schema checks still hold to the
document.
"""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import start_up

_CONFIG = """
[[jobs]]
type = "daily_meters"
name = "daily"
aggregate = { "kitchen/temp" = "avg" }
"""
SEED = 1
EXAMPLES = 10
_ST = Path(sys.executable).with_name("st")


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[str]:
    """`iotstream up` with a little of everything, so that fuzzed ids and names find something."""
    (tmp_path / "iotstream.toml").write_text(_CONFIG)
    process, url = start_up(tmp_path)
    try:
        _seed(url)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def _seed(url: str) -> None:
    thing = {
        "name": "house",
        "description": "a house",
        "Datastreams": [
            {
                "name": "energy",
                "description": "its meter",
                "unitOfMeasurement": {"name": "kWh", "symbol": "kWh", "definition": "kWh"},
                "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
                "Sensor": {
                    "name": "meter",
                    "description": "m",
                    "encodingType": "text/plain",
                    "metadata": "m",
                },
                "ObservedProperty": {"name": "energy", "description": "e", "definition": "energy"},
            }
        ],
        "Locations": [
            {
                "name": "here",
                "description": "h",
                "encodingType": "application/geo+json",
                "location": {"type": "Point", "coordinates": [8.4, 49.0]},
            }
        ],
    }
    with httpx.Client(base_url=url, timeout=30) as api:
        assert api.post("/v1.1/Things", json=thing).status_code == 201
        observation = {"result": 1.5, "phenomenonTime": "2024-05-01T10:00:00Z"}
        assert api.post("/v1.1/Datastreams(1)/Observations", json=observation).status_code == 201
        readings = [{"datastream": "kitchen/temp", "time": 1714557600000 + i, "value": i} for i in range(10)]
        assert api.post("/api/v1/readings", json=readings).status_code == 202


def test_schemathesis_finds_nothing_the_openapi_document_does_not_say(platform: str, tmp_path: Path) -> None:
    argv = [str(_ST), "run", f"{platform}/openapi.json", "--checks", "all"]
    argv += ["--exclude-checks", "positive_data_acceptance", "--phases", "examples,coverage,fuzzing"]
    argv += ["--seed", str(SEED), "--max-examples", str(EXAMPLES), "--workers", "1", "--no-color"]
    root = str(Path(__file__).parents[2])
    env = os.environ | {"SCHEMATHESIS_HOOKS": "tests.integration.schemathesis_hooks", "PYTHONPATH": root}
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path, check=False
    )
    assert result.returncode == 0, f"seed {SEED}:\n{result.stdout[-20_000:]}\n{result.stderr[-5_000:]}"
    assert "passed" in result.stdout
    assert "generated" in result.stdout
