"""`iotstream produce TOPIC`: one record per line of standard input, like kafka-console-producer."""

import sys
from collections.abc import Iterator
from typing import Annotated, BinaryIO

import msgspec
import typer
from rich.markup import escape

from iotstream.cli._context import err_console, state
from iotstream.exceptions import IotStreamError
from iotstream.log import RecordMetadata

__all__ = ["produce"]


def produce(
    ctx: typer.Context,
    topic: str,
    key_field: Annotated[
        str | None, typer.Option(help="Take each record's key from this field of the JSON line.")
    ] = None,
    key: Annotated[str | None, typer.Option(help="The same key for every record.")] = None,
) -> None:
    """Produce each non-empty line of stdin as one record; bad lines are reported and skipped."""
    report = _Report()
    with state(ctx).open_log() as log, log.producer() as producer:
        for number, line in _lines(sys.stdin.buffer):
            try:
                record_key = _key_of(line, key_field) if key_field else (key.encode() if key else None)
                producer.produce(topic, line, key=record_key, on_delivery=report.delivered)
            except (IotStreamError, ValueError) as err:
                report.rejected(number, err)
    report.print(topic)
    if report.failed:
        raise typer.Exit(1)


def _lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Lazily, so a typed line is sent at once and a huge file is never held in memory."""
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield number, line.rstrip(b"\r\n")


def _key_of(line: bytes, field: str) -> bytes:
    try:
        document = msgspec.json.decode(line)
    except msgspec.DecodeError as err:
        raise ValueError(f"not JSON ({err}), so it has no {field!r} field") from err
    if not isinstance(document, dict) or field not in document:
        raise ValueError(f"JSON has no {field!r} field for the key")
    value = document[field]
    return (value if isinstance(value, str) else msgspec.json.encode(value).decode()).encode()


class _Report:
    def __init__(self) -> None:
        self.acknowledged = 0
        self.failed = 0

    def delivered(self, error: Exception | None, metadata: RecordMetadata) -> None:
        if error is None:
            self.acknowledged += 1
        else:
            self.failed += 1
            err_console.print(f"[red]not stored:[/] {escape(str(error))}")

    def rejected(self, line: int, error: Exception) -> None:
        self.failed += 1
        err_console.print(f"[red]line {line} rejected:[/] {escape(str(error))}")

    def print(self, topic: str) -> None:
        err_console.print(
            f"produced {self.acknowledged} record(s) to {escape(topic)}"
            + (f", {self.failed} failed" if self.failed else "")
        )
