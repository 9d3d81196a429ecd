"""Checkpoints of a job's tasks kept in the log, so a task's state moves with its partition.

A process that takes a partition over (a rebalance, a crash of its owner) finds the task's last
checkpoint in the compacted topic `jobs.<job>.checkpoints`, wherever it runs, as Kafka Streams finds a
store in its changelog. A checkpoint holds the task's whole state with the input offsets it includes;
the runner writes it before it commits those offsets, so a restored task is never behind its group.

Records, keyed so compaction keeps exactly what a restore needs:
- `<task>/<slot>/<n>`: chunk n of a checkpoint (a state may be larger than one record may be);
- `<task>/part/<name>/<n>`: chunk n of a part, a piece of state written once and needed by the
  checkpoints after it (the segments of counted readings, `_dedup_journal`): a state's `parts` names the
  parts to write with it and the earlier ones it keeps; a part no checkpoint keeps any more is deleted
  (a tombstone) once a checkpoint without it is stored;
- `<task>`: the commit record `{"id", "slot", "chunks"}`, written after its chunks.
Checkpoints alternate between two slots, so a process that dies halfway through writing one leaves the
previous one whole. To read every checkpoint written so far without trusting a backend's idea of the
end of a partition, a reader first writes a marker record and reads until it sees it.

A task with no checkpoint in the log falls back to the job's checkpoint file of earlier versions.
"""

import uuid
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from iotstream.log.base import BaseLog
from iotstream.log.exceptions import LogError
from iotstream.log.types import CleanupPolicy, Record, RecordMetadata, TopicPartition, TopicSpec
from iotstream.processing.exceptions import ProcessingError
from iotstream.processing.state import CheckpointStore

__all__ = ["LogCheckpoints", "checkpoints_topic"]

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode
_CHUNK_BYTES = 512 * 1024  # well under the log's default 1 MiB record limit
_MARKER = b"reader"
_READ_TIMEOUT_S = 30.0


def checkpoints_topic(job: str) -> str:
    return f"jobs.{job}.checkpoints"


class LogCheckpoints:
    def __init__(self, log: BaseLog, job: str, fallback: CheckpointStore | None = None) -> None:
        self._log = log
        self._topic = checkpoints_topic(job)
        self._fallback = fallback
        log.create_topic(TopicSpec(self._topic, 1, cleanup_policy=CleanupPolicy.COMPACT), exist_ok=True)
        self._producer = log.producer()
        self._slots: dict[int, int] = {}  # the slot of each task's last checkpoint
        self._parts: dict[int, dict[str, int]] = {}  # each task's parts in its last checkpoint: chunks
        self._failures: list[Exception] = []

    def load(self, tasks: list[int]) -> dict[int, dict[str, Any]]:
        """The last whole checkpoint of each task that has one."""
        latest = self._read_all()
        states: dict[int, dict[str, Any]] = {}
        for task in tasks:
            state = self._assemble(task, latest)
            if state is not None and "parts" in state:
                state["parts"] = {"data": self._assemble_parts(task, state["parts"]["keep"], latest)}
            if state is None and self._fallback is not None:
                state = self._fallback.load(task)
            if state is not None:
                states[task] = state
        return states

    def save(self, states: dict[int, dict[str, Any]]) -> None:
        """Every chunk, then each task's commit record; returns once the log has them all, and raises
        when it refused any (then the slots stay as they were: the next save writes the same ones)."""
        slots = {task: 1 - self._slots.get(task, 1) for task in states}
        parts: dict[int, dict[str, int]] = {}
        for task, state in states.items():
            if "parts" in state:
                parts[task] = self._write_parts(task, state["parts"])
                state = state | {"parts": {"keep": parts[task]}}
            checkpoint, data = uuid.uuid4().hex, _encode(state)
            chunks = _chunks(data)
            for n, chunk in enumerate(chunks):
                self._produce(f"{task}/{slots[task]}/{n}", {"id": checkpoint, "data": chunk})
            self._produce(f"{task}", {"id": checkpoint, "slot": slots[task], "chunks": len(chunks)})
        self._flush("checkpoint")
        self._slots |= slots
        for task, kept in parts.items():  # stored: the parts it no longer keeps can go (flushed next time)
            self._delete_parts(task, self._parts.get(task, {}).keys() - kept.keys())
            self._parts[task] = kept

    def _write_parts(self, task: int, parts: dict[str, Any]) -> dict[str, int]:
        """Writes the new parts; the chunks of each part the state keeps."""
        known = self._parts.get(task, {})
        kept = {}
        for name in parts["keep"]:
            if name in parts["write"]:
                chunks = _chunks(parts["write"][name])
                for n, chunk in enumerate(chunks):
                    self._produce(f"{task}/part/{name}/{n}", {"data": chunk})
                kept[name] = len(chunks)
            elif name in known:
                kept[name] = known[name]
            else:
                raise ProcessingError(f"task {task} of {self._topic} keeps part {name!r}, never written")
        return kept

    def _assemble_parts(self, task: int, keep: dict[str, int], latest: dict[bytes, Any]) -> dict[str, bytes]:
        data = {}
        for name, count in keep.items():
            keys = [f"{task}/part/{name}/{n}".encode() for n in range(count)]
            if not all(key in latest for key in keys):
                raise ProcessingError(f"part {name} of task {task} in {self._topic} is incomplete")
            data[name] = b"".join(latest[key]["data"] for key in keys)
        # Parts of a checkpoint that never completed stay: a previous owner of the task may still be
        # finishing one, and deleting what its commit names could leave nothing whole to restore.
        self._parts[task] = dict(keep)
        return data

    def _delete_parts(self, task: int, names: Iterable[str]) -> None:
        known = self._parts.get(task, {})
        for name in names:
            for n in range(known[name]):
                self._producer.produce(
                    self._topic, None, f"{task}/part/{name}/{n}".encode(), on_delivery=self._delivered
                )

    def close(self) -> None:
        self._producer.close()
        if self._fallback is not None:
            self._fallback.close()

    def _assemble(self, task: int, latest: dict[bytes, Any]) -> dict[str, Any] | None:
        commit = latest.get(f"{task}".encode())
        if commit is None:
            return None
        self._slots[task] = commit["slot"]
        keys = [f"{task}/{commit['slot']}/{n}".encode() for n in range(commit["chunks"])]
        chunks = [latest[key] for key in keys if key in latest and latest[key]["id"] == commit["id"]]
        if len(chunks) != len(keys):  # the commit record is written after its chunks: never
            raise ProcessingError(f"checkpoint {commit['id']} of task {task} in {self._topic} is incomplete")
        state: dict[str, Any] = _decode(b"".join(chunk["data"] for chunk in chunks))
        return state

    def _read_all(self) -> dict[bytes, Any]:
        """The latest value of every key, up to a marker written now."""
        marker = uuid.uuid4().hex.encode()
        self._producer.produce(self._topic, marker, _MARKER, on_delivery=self._delivered)
        self._flush("marker")
        consumer = self._log.consumer()
        try:
            consumer.assign([TopicPartition(self._topic, 0)])
            consumer.seek_to_beginning()
            return _until_marker(consumer.poll, marker, self._topic)
        finally:
            consumer.close()

    def _produce(self, key: str, value: dict[str, Any]) -> None:
        self._producer.produce(self._topic, _encode(value), key.encode(), on_delivery=self._delivered)

    def _delivered(self, error: Exception | None, _metadata: RecordMetadata) -> None:
        if error is not None:
            self._failures.append(error)

    def _flush(self, what: str) -> None:
        pending = self._producer.flush(_READ_TIMEOUT_S)
        failures, self._failures = self._failures, []
        if pending or failures:
            raise LogError(f"the log did not take the {what} in {self._topic}: {failures[:1] or 'timed out'}")


def _until_marker(poll: Callable[..., list[Record]], marker: bytes, topic: str) -> dict[bytes, Any]:
    latest: dict[bytes, Any] = {}
    while True:
        records = poll(max_records=1_000, timeout_s=_READ_TIMEOUT_S)
        if not records:
            raise LogError(f"reading {topic} did not reach the marker within {_READ_TIMEOUT_S:g} s")
        for record in records:
            if record.key == _MARKER:
                if record.value == marker:
                    return latest
            elif record.key is not None:
                value = record.value
                if value is None:
                    latest.pop(record.key, None)  # a tombstone
                else:
                    latest[record.key] = _decode(value)


def _chunks(data: bytes) -> list[bytes]:
    return [data[i : i + _CHUNK_BYTES] for i in range(0, len(data), _CHUNK_BYTES)] or [b""]
