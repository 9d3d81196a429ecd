"""Reading payloads as devices send them, JSON and Avro: any bytes give readings and reasons, never an
exception; what is accepted is what storage can keep, and a bad item costs only itself."""

import json
import math
from typing import Any

import fastavro
from hypothesis import given
from hypothesis import strategies as st

from iotstream._units import END_OF_TIME_MS
from iotstream.ingest.avro import AvroReadings
from iotstream.ingest.readings import InvalidPayloadError, parse_items, parse_readings
from tests.fuzz import fuzz

RECEIVED = 1_714_557_600_000
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
TIMES = st.one_of(
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["2024-05-01T10:00:00Z", "9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00+14:00", ""]),
)
READING_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "datastream": st.one_of(st.text(max_size=20), JSON_VALUES),
        "time": TIMES,
        "value": JSON_VALUES,
        "id": st.one_of(st.text(max_size=10), JSON_VALUES),
    },
)
VALID = st.builds(
    lambda n, t, v: {"datastream": f"s{n}", "time": t, "value": v},
    st.integers(0, 5),
    st.integers(0, END_OF_TIME_MS - 1),
    st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53),
)


def _check_accepted(accepted: list[Any]) -> None:
    """What parsing passes on (times past 9999 are the store's to refuse, see test_http_readings)."""
    for reading in accepted:
        assert reading.phenomenon_time_ms >= 0, reading
        assert reading.datastream.strip()
        value = reading.result
        assert not isinstance(value, float) or math.isfinite(value)


@fuzz(400)
@given(st.binary(max_size=200) | JSON_VALUES.map(lambda v: json.dumps(v).encode()))
def test_any_body_is_readings_and_reasons_or_one_precise_refusal(body: bytes) -> None:
    try:
        accepted, rejected = parse_readings(body, RECEIVED)
    except InvalidPayloadError as err:
        message = str(err)
        assert message.startswith(("body is not JSON", "body must be a reading object")), message
        return
    _check_accepted(accepted)
    assert all(reason for _, reason in rejected)


@fuzz(300)
@given(st.lists(st.tuples(st.booleans(), READING_LIKE, VALID), max_size=12))
def test_bad_items_cost_only_themselves(items: list[tuple[bool, dict[str, Any], dict[str, Any]]]) -> None:
    """Valid readings mixed with anything: each valid one accepted, in order; each item either
    accepted or rejected by its position."""
    batch = [valid if keep_valid else junk for keep_valid, junk, valid in items]
    body = json.dumps(batch).encode()
    accepted, rejected = parse_readings(body, RECEIVED)
    _check_accepted(accepted)
    assert len(accepted) + len(rejected) == len(batch)
    rejected_at = {position for position, _ in rejected}
    valid_at = [i for i, (keep, _, _) in enumerate(items) if keep]
    assert not rejected_at & set(valid_at), rejected
    assert len(accepted) >= len(valid_at)


_SCHEMA = {
    "type": "record",
    "name": "Reading",
    "fields": [
        {"name": "datastream", "type": "string"},
        {"name": "time", "type": "long"},
        {"name": "value", "type": ["double", "string", "null"]},
    ],
}


def _frame(record: dict[str, Any]) -> bytes:
    import io

    out = io.BytesIO()
    out.write(b"\x00" + (1).to_bytes(4, "big"))
    fastavro.schemaless_writer(out, fastavro.parse_schema(_SCHEMA), record)
    return out.getvalue()


@fuzz(300)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.builds(
                lambda name, t, v: _frame({"datastream": name, "time": t, "value": v}),
                st.text(max_size=10),
                st.integers(-(2**63), 2**63 - 1),
                st.none() | st.text(max_size=5) | st.floats(),
            ),
        ),
        max_size=6,
    )
)
def test_any_avro_frames_are_readings_and_reasons_never_an_exception(frames: list[bytes]) -> None:
    avro = AvroReadings(lambda schema_id: json.dumps(_SCHEMA) if schema_id == 1 else _unknown(schema_id))
    items = avro.readings(b"".join(frames))
    accepted, rejected = parse_items(list(items), RECEIVED)
    _check_accepted(accepted)
    assert all(reason for _, reason in rejected)
    assert len(accepted) + len(rejected) == len(items)


def _unknown(schema_id: int) -> str:
    raise LookupError(schema_id)
