"""`iotstream consume TOPIC`: records as JSON lines on stdout, like kafka-console-consumer.

Confluent-framed Avro values (`[log] format = "avro"`, or a gateway's) are printed as the JSON of their
record, with the schema's id, looked up in the registry the configuration names.
"""

import base64
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import typer

from iotstream.cli._context import state
from iotstream.config import Settings
from iotstream.log import BaseConsumer, BaseLog, Record, TopicPartition

if TYPE_CHECKING:
    from iotstream.log.avro import AvroCodec

__all__ = ["consume"]

_encoder = msgspec.json.Encoder()


def consume(
    ctx: typer.Context,
    topic: str,
    from_beginning: Annotated[bool, typer.Option(help="Start at the oldest record (else only new).")] = False,
    group: Annotated[str | None, typer.Option(help="Join this consumer group and commit progress.")] = None,
    max_records: Annotated[int | None, typer.Option("--max", min=1, help="Stop after this many.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Stop after this many idle seconds.")] = None,
    value_only: Annotated[bool, typer.Option(help="Print only each record's value.")] = False,
) -> None:
    """Print records until --max, --timeout or Ctrl-C."""
    settings = state(ctx).settings
    with state(ctx).open_log() as log:
        consumer = _open_consumer(log, topic, group, from_beginning)
        frames = _Frames(settings, log)
        try:
            _print_records(consumer, frames, max_records, timeout, value_only, commit=group is not None)
        except KeyboardInterrupt:
            pass
        finally:
            consumer.close()
            frames.close()


class _Frames:
    """Avro frames as JSON, with the registry opened at the first frame (most topics have none)."""

    def __init__(self, settings: Settings, log: BaseLog) -> None:
        self._settings = settings
        self._log = log
        self._codec: AvroCodec | None = None
        self._close: Callable[[], None] = lambda: None

    def fields(self, value: bytes | None) -> dict[str, Any]:
        if value is None or value[:1] != b"\x00" or len(value) < 5:
            return _value_fields(value)
        from iotstream.log.avro import AvroCodec, FrameError  # loaded at the first frame, as the registry is

        if self._codec is None:
            from iotstream.registry.schemas.source import open_schemas

            schemas, self._close = open_schemas(self._settings.schemas, self._log)
            self._codec = AvroCodec(schemas)
        schema_id = int.from_bytes(value[1:5], "big")
        try:
            return {"value": msgspec.Raw(self._codec.document(value)), "schema_id": schema_id}
        except FrameError as err:
            return {"value_base64": base64.b64encode(value).decode(), "error": str(err)}

    def close(self) -> None:
        self._close()


def _open_consumer(log: BaseLog, topic: str, group: str | None, from_beginning: bool) -> BaseConsumer:
    partitions = log.describe_topic(topic).spec.partitions  # fails clearly for a missing topic
    consumer = log.consumer(group, auto_offset_reset="earliest" if from_beginning else "latest")
    if group is not None:
        consumer.subscribe([topic])
        return consumer
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    if from_beginning:
        consumer.seek_to_beginning()
    else:
        consumer.seek_to_end()
    return consumer


def _print_records(
    consumer: BaseConsumer,
    frames: _Frames,
    max_records: int | None,
    idle_timeout_s: float | None,
    value_only: bool,
    commit: bool,
) -> None:
    printed = 0
    last_record_at = time.monotonic()
    while max_records is None or printed < max_records:
        wanted = 500 if max_records is None else min(500, max_records - printed)
        records = consumer.poll(max_records=wanted, timeout_s=0.2)
        if not records:
            if idle_timeout_s is not None and time.monotonic() - last_record_at > idle_timeout_s:
                return
            continue
        last_record_at = time.monotonic()
        sys.stdout.write("".join(_render(r, frames, value_only) for r in records))
        sys.stdout.flush()
        printed += len(records)
        if commit:
            consumer.commit()


def _render(record: Record, frames: _Frames, value_only: bool) -> str:
    fields = frames.fields(record.value)
    if value_only:
        value = fields.get("value")
        if isinstance(value, msgspec.Raw):
            return bytes(value).decode() + "\n"
        return (record.value or b"").decode("utf-8", "replace") + "\n"
    line: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp_ms,
        "key": None if record.key is None else record.key.decode("utf-8", "replace"),
        **fields,
    }
    if record.headers:
        line["headers"] = {name: value.decode("utf-8", "replace") for name, value in record.headers}
    return _encoder.encode(line).decode() + "\n"


def _value_fields(value: bytes | None) -> dict[str, Any]:
    """JSON values are embedded as JSON, text as a string, anything else as base64."""
    if value is None:
        return {"value": None}
    try:
        msgspec.json.decode(value)
        return {"value": msgspec.Raw(value)}
    except msgspec.DecodeError:
        pass
    try:
        return {"value": value.decode("utf-8")}
    except UnicodeDecodeError:
        return {"value_base64": base64.b64encode(value).decode()}
