"""The running platform fed anything over HTTP: reading batches with junk among good readings, any
bytes, SensorThings bodies and query options. No answer is a 5xx, each refusal says why, and every good
reading sent along the way is stored (a bad neighbour loses nothing)."""

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from tests.fuzz import fuzz
from tests.fuzz.test_reading_payloads import JSON_VALUES, READING_LIKE

T0 = 1_714_557_600_000
ENTITY_SETS = ("Things", "Sensors", "ObservedProperties", "Datastreams", "Locations", "Observations")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[httpx.Client]:
    """One platform for all of a test's examples (hypothesis calls the test many times per fixture)."""
    data_dir = tmp_path
    keep = {"raw": "36500d", "1m": "36500d", "1h": "36500d"}
    with EmbeddedPlatform(
        load_settings(data_dir=data_dir, api={"port": 0}, storage={"retention": keep})
    ) as p:
        assert p.api is not None
        with httpx.Client(base_url=p.api.url, timeout=30) as client:
            yield client


def _no_server_error(answer: httpx.Response) -> None:
    assert answer.status_code < 500, f"{answer.status_code} {answer.text[:500]}"
    if answer.status_code >= 400:
        detail = answer.json()
        assert detail.get("detail") or detail.get("message"), detail


def test_junk_among_good_readings_costs_only_itself(api: httpx.Client) -> None:
    sent: dict[str, list[int]] = {}
    numbers = itertools.count()

    @fuzz(150)
    @given(st.lists(st.one_of(st.none(), READING_LIKE, JSON_VALUES), max_size=8), st.integers(0, 8))
    def post(junk: list[Any], where: int) -> None:
        number = next(numbers)
        good = {"datastream": f"fuzz/{number % 7}", "time": T0 + number, "value": number}
        far = {"datastream": "fuzz/far", "time": 253_402_300_800_000 + number, "value": 1}  # year 10000
        batch = [*junk[:where], good, far, *junk[where:]]
        answer = api.post("/api/v1/readings", json=batch)
        _no_server_error(answer)
        assert answer.status_code == 202, answer.text
        rejected = {r["index"]: r["error"] for r in answer.json()["rejected"]}
        assert batch.index(good) not in rejected
        assert rejected.get(batch.index(far)), "a time no store can keep must be refused, not dropped"
        assert answer.json()["accepted"] + len(rejected) == len(batch)
        sent.setdefault(good["datastream"], []).append(good["time"])

    post()
    for name, times in sent.items():
        assert _stored_times(api, name, len(times)) >= set(times), f"good readings of {name} lost"
    assert api.get("/api/v1/readings", params={"datastream": "fuzz/far"}).json() == []


def _stored_times(api: httpx.Client, name: str, count: int) -> set[int]:
    deadline = time.monotonic() + 30
    while True:
        rows = api.get("/api/v1/readings", params={"datastream": name, "limit": 100_000}).json()
        times = {_ms(r["time"]) for r in rows}
        if len(times) >= count or time.monotonic() > deadline:
            return times
        time.sleep(0.2)


def _ms(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


@fuzz(150)
@given(
    st.binary(max_size=300),
    st.sampled_from(["application/json", "application/vnd.confluent.avro", "text/plain"]),
)
def test_any_bytes_posted_as_readings_are_refused_precisely(
    api: httpx.Client, body: bytes, media: str
) -> None:
    _no_server_error(api.post("/api/v1/readings", content=body, headers={"content-type": media}))


@fuzz(200)
@given(st.sampled_from(ENTITY_SETS), JSON_VALUES)
def test_any_sensorthings_body_is_created_or_refused_with_a_reason(
    api: httpx.Client, entity_set: str, body: Any
) -> None:
    _no_server_error(api.post(f"/v1.1/{entity_set}", content=json.dumps(body)))


OPTION_TEXT = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.sampled_from(
            [
                "name",
                "result",
                "eq",
                "gt",
                "and",
                "or",
                "not",
                "(",
                ")",
                "'x'",
                "1",
                "2.5",
                "null",
                "true",
                "phenomenonTime",
                "2024-01-01T00:00:00Z",
                "substringof(",
                ",",
                "Datastreams",
                "/",
                "$top=1",
                ";",
                "desc",
                "asc",
                "Thing/name",
                "st_within(location, geography'POINT(1 2)')",
                "length(",
                "-",
            ]
        ),
        max_size=10,
    ).map(" ".join),
)


@fuzz(300)
@given(
    st.sampled_from(ENTITY_SETS),
    st.dictionaries(
        st.sampled_from(
            ["$filter", "$expand", "$orderby", "$select", "$top", "$skip", "$count", "$resultFormat"]
        ),
        OPTION_TEXT,
        max_size=3,
    ),
)
def test_any_query_options_are_answered_or_refused_with_a_reason(
    api: httpx.Client, entity_set: str, options: dict[str, str]
) -> None:
    _no_server_error(api.get(f"/v1.1/{entity_set}", params=options))
