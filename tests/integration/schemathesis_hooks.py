"""Loaded by `st run` (SCHEMATHESIS_HOOKS) in the OpenAPI fuzz test: the relay's request body is msgpack,
a media type schemathesis has no serializer for."""

from typing import Any

import msgspec
import schemathesis

from iotstream.relay.wire import MEDIA_TYPE


@schemathesis.serializer(MEDIA_TYPE)
def relay_batch(_context: Any, value: Any) -> bytes:
    return msgspec.msgpack.encode(value)
