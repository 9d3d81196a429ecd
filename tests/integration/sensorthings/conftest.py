"""A running platform (embedded: SQLite log, DuckDB store; the catalog on SQLite or PostgreSQL) and an
HTTP client on /v1.1."""

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform

FIXTURES = Path(__file__).parents[2] / "fixtures"


@pytest.fixture(params=["sqlite", "postgresql"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmbeddedPlatform]:
    """The same tests on both catalogs: SQLite (embedded) and PostgreSQL, whose JSON is JSONB; with the
    default retention (every tier kept forever), as a new user has it."""
    registry = (
        {"url": _fresh_database(request.getfixturevalue("postgres_url"))} if request.param != "sqlite" else {}
    )
    settings = load_settings(data_dir=tmp_path, api={"port": 0}, registry=registry)
    with EmbeddedPlatform(settings) as running:
        yield running


def _fresh_database(server_url: str) -> str:
    name = f"catalog_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def sta(platform: EmbeddedPlatform) -> Iterator[httpx.Client]:
    assert platform.api is not None
    with httpx.Client(base_url=f"{platform.api.url}/v1.1", timeout=30) as client:
        yield client


def created_id(sta: httpx.Client, path: str, body: dict[str, Any]) -> int:
    """POST `body` to `path` (e.g. "/Things"), which must create it; its @iot.id."""
    answer = sta.post(path, json=body)
    assert answer.status_code == 201, answer.text
    entity_id: int = answer.json()["@iot.id"]
    return entity_id


def created_sensors(sta: httpx.Client, count: int) -> list[int]:
    """`Sensor 1` … `Sensor {count}`, created; their @iot.ids."""
    body = {"description": "", "encodingType": "text", "metadata": "m"}
    return [created_id(sta, "/Sensors", {"name": f"Sensor {n}"} | body) for n in range(1, count + 1)]
