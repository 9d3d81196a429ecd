"""The Avro form of the platform's own records: any JSON document survives the round trip, the schemas
are what Avro's own parser accepts, and a changed record type is a new version only when compatible."""

import dataclasses
import json
from pathlib import Path
from typing import Any

import avro.schema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iotstream.log import open_log
from iotstream.log.avro import AvroCodec, AvroLog, SchemaRefusedError, SchemaSource, record_type_of
from iotstream.log.avro import codec as codec_module
from iotstream.log.avro import records as kinds
from iotstream.log.exceptions import LogUnavailableError
from iotstream.log.types import TopicPartition, TopicSpec
from iotstream.registry.schemas.source import LocalSchemas
from iotstream.registry.schemas.store import SchemaRegistry

TOPICS = [
    "observations",
    "aggregates.1d",
    "aggregates.1m",
    "alerts",
    "registry.datastreams",
    "registry.things",
]


@pytest.fixture
def log(tmp_path: Path) -> Any:
    log = open_log(f"sqlite:///{tmp_path}/log.db", linger_ms=0)
    yield log
    log.close()


@pytest.fixture
def registry(log: Any) -> Any:
    registry = SchemaRegistry(log)
    yield registry
    registry.close()


def _round_trip(codec: AvroCodec, topic: str, document: dict[str, Any]) -> Any:
    frame = codec.encode(topic, json.dumps(document).encode())
    assert frame is not None
    assert frame[:1] == b"\x00"
    decoded = codec.decode(topic, frame)
    assert decoded is not None
    return json.loads(decoded)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
field_names = st.sampled_from(
    ["datastream", "time", "value", "id", "resultTime", "key", "window", "start", "end", "revision",
     "replaces", "count", "sum", "avg", "min", "max", "rule", "state", "closed_at", "name", "@iot.id",
     "extra", "other"]
)  # fmt: skip


def _as_json_reads_it(document: Any, topic: str) -> Any:
    """What the round trip may change: a whole number in one of the type's double fields is a float."""
    kind = record_type_of(topic)
    assert kind is not None
    doubles = {name for name, field in kind.fields if field == kinds.DOUBLE}
    nested = {name: field for name, field in kind.fields if isinstance(field, kinds.RecordType)}
    out = {}
    for name, value in document.items():
        if name in doubles and type(value) is int and abs(value) <= 2**53:
            value = float(value)
        elif name in nested and isinstance(value, dict):
            inner = {n for n, f in nested[name].fields if f == kinds.DOUBLE}
            value = {
                k: float(v) if k in inner and type(v) is int and abs(v) <= 2**53 else v
                for k, v in value.items()
            }
        out[name] = value
    return out


@settings(max_examples=300, deadline=None, derandomize=True, print_blob=True)
@given(
    topic=st.sampled_from(TOPICS),
    document=st.dictionaries(field_names, json_values, max_size=8),
)
def test_any_document_of_any_own_topic_survives_the_round_trip(
    shared_codec: AvroCodec, topic: str, document: dict[str, Any]
) -> None:
    assert _round_trip(shared_codec, topic, document) == _as_json_reads_it(document, topic)


@pytest.fixture(scope="module")
def shared_codec(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One codec for all examples: registering a schema per example would be most of the test's time."""
    log = open_log(f"sqlite:///{tmp_path_factory.mktemp('avro')}/log.db", linger_ms=0)
    registry = SchemaRegistry(log)
    yield AvroCodec(LocalSchemas(registry))
    registry.close()
    log.close()


@pytest.mark.parametrize("topic", TOPICS)
def test_each_schema_is_one_apache_avro_accepts_and_registers_under_the_topic_name(
    registry: SchemaRegistry, topic: str
) -> None:
    kind = record_type_of(topic)
    assert kind is not None
    avro.schema.parse(json.dumps(kind.schema()))  # the reference implementation's parser
    AvroCodec(LocalSchemas(registry)).register([topic])
    [value] = registry.state().live(f"{topic}-value")
    assert json.loads(value.schema) == kind.schema()


def test_other_topics_and_values_that_are_not_json_objects_stay_as_written(registry: SchemaRegistry) -> None:
    codec = AvroCodec(LocalSchemas(registry))
    for topic, value in [
        ("observations.late", b'{"a": 1}'),
        ("observations", b"[1]"),
        ("observations", b"{x"),
        ("alerts", None),
    ]:
        assert codec.encode(topic, value) == value
    frame = codec.encode("observations", b'{"datastream": "a", "time": 1, "value": 2}')
    assert codec.decode("gateway", frame) == frame  # a source decodes other topics' frames itself
    assert (
        codec.decode("observations", b"\x00\x00\x00\x00\x63abc") == b"\x00\x00\x00\x00\x63abc"
    )  # unknown id 99


def test_a_changed_record_type_is_a_new_version_only_when_compatible(
    registry: SchemaRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    AvroCodec(LocalSchemas(registry)).register(["observations"])
    with_unit = dataclasses.replace(kinds.READING, fields=(*kinds.READING.fields, ("unit", kinds.STRING)))
    monkeypatch.setattr(kinds, "READING", with_unit)
    AvroCodec(LocalSchemas(registry)).register(["observations"])  # an optional field: BACKWARD allows it
    assert registry.versions("observations-value") == [1, 2]
    fields = dict(with_unit.fields)
    changed = dataclasses.replace(with_unit, fields=tuple({**fields, "datastream": kinds.LONG}.items()))
    monkeypatch.setattr(kinds, "READING", changed)
    with pytest.raises(
        SchemaRefusedError, match="subject 'observations-value': Schema being registered is incompatible"
    ):
        AvroCodec(LocalSchemas(registry)).register(["observations"])
    assert registry.versions("observations-value") == [1, 2]


def test_records_written_with_an_earlier_version_still_read(
    registry: SchemaRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = AvroCodec(LocalSchemas(registry))
    frame = old.encode("observations", b'{"datastream": "a", "time": 1, "value": 2, "unit": "W"}')
    with_unit = dataclasses.replace(kinds.READING, fields=(*kinds.READING.fields, ("unit", kinds.STRING)))
    monkeypatch.setattr(kinds, "READING", with_unit)
    new = AvroCodec(LocalSchemas(registry))
    newer = new.encode("observations", b'{"datastream": "a", "time": 1, "value": 2, "unit": "W"}')
    assert frame is not None
    assert newer is not None
    assert frame[1:5] != newer[1:5]  # two schema ids
    for codec in (old, new):
        for written in (frame, newer):
            assert json.loads(codec.decode("observations", written) or b"") == {
                "datastream": "a",
                "time": 1,
                "value": 2,
                "unit": "W",
            }


def test_the_avro_log_writes_frames_and_reads_documents(log: Any, registry: SchemaRegistry) -> None:
    avro_log = AvroLog(log, AvroCodec(LocalSchemas(registry)))
    avro_log.create_topic(TopicSpec("observations"), exist_ok=True)
    with avro_log.producer() as producer:
        producer.produce("observations", b'{"datastream": "a", "time": 5, "value": 1.5}', b"a")
    with log.consumer() as raw, avro_log.consumer() as documents:
        for consumer in (raw, documents):
            consumer.assign([TopicPartition("observations", 0)])
        [stored] = raw.poll(10, 1)
        [read] = documents.poll(10, 1)
    assert stored.value[:1] == b"\x00"
    assert json.loads(read.value) == {"datastream": "a", "time": 5, "value": 1.5}
    assert (read.key, read.offset) == (stored.key, stored.offset)


class _Flaky(SchemaSource):
    """A registry that does not answer the first `failures` lookups."""

    def __init__(self, inner: SchemaSource, failures: int) -> None:
        self.inner, self.failures = inner, failures

    def register(self, subject: str, schema: str) -> int:
        return self.inner.register(subject, schema)

    def schema(self, schema_id: int) -> str:
        if self.failures > 0:
            self.failures -= 1
            raise LogUnavailableError("the registry cannot be reached")
        return self.inner.schema(schema_id)


def test_a_registry_that_does_not_answer_is_waited_for_then_a_failure(
    registry: SchemaRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = AvroCodec(LocalSchemas(registry)).encode(
        "observations", b'{"datastream": "a", "time": 1, "value": 2}'
    )
    assert frame is not None
    waited = AvroCodec(_Flaky(LocalSchemas(registry), failures=2))
    assert json.loads(waited.decode("observations", frame) or b"") == {
        "datastream": "a",
        "time": 1,
        "value": 2,
    }
    monkeypatch.setattr(codec_module, "_REGISTRY_WAIT_S", 0.0)
    with pytest.raises(LogUnavailableError):  # not passed on as if the schema were unknown
        AvroCodec(_Flaky(LocalSchemas(registry), failures=1_000)).decode("observations", frame)


def test_a_batch_the_registry_could_not_decode_is_read_again_not_skipped(
    log: Any, registry: SchemaRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codec_module, "_REGISTRY_WAIT_S", 0.0)
    flaky = _Flaky(LocalSchemas(registry), failures=1)
    avro_log = AvroLog(log, AvroCodec(flaky))
    avro_log.create_topic(TopicSpec("observations"), exist_ok=True)
    with AvroLog(log, AvroCodec(LocalSchemas(registry))).producer() as producer:
        producer.produce("observations", b'{"datastream": "a", "time": 5, "value": 1.5}')
    with avro_log.consumer() as consumer:
        consumer.assign([TopicPartition("observations", 0)])
        with pytest.raises(LogUnavailableError):
            consumer.poll(10, 1)
        [read] = consumer.poll(10, 1)  # the registry answers again
    assert (read.offset, json.loads(read.value)) == (0, {"datastream": "a", "time": 5, "value": 1.5})
