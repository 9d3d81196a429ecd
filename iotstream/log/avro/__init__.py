"""Avro on the log: iotstream's own topics as Confluent-framed records (`[log] format = "avro"`)."""

from iotstream.log.avro.codec import (
    AvroCodec,
    FrameError,
    SchemaRefusedError,
    SchemaSource,
    frame_header,
    millis_as_longs,
    subject_of,
)
from iotstream.log.avro.records import RecordType, record_type_of
from iotstream.log.avro.wrapper import AvroLog

__all__ = [
    "AvroCodec",
    "AvroLog",
    "FrameError",
    "RecordType",
    "SchemaRefusedError",
    "SchemaSource",
    "frame_header",
    "millis_as_longs",
    "record_type_of",
    "subject_of",
]
