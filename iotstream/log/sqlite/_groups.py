"""Consumer-group membership over the shared log file, across threads and processes.

Members heartbeat into `group_members`; any member expires those silent for `session_timeout_ms`.
Every join, leave or expiry bumps the group's generation, which each member checks on every poll.
The assignment is a pure function of (members, partitions), so all members agree without a leader.
A partition changes hands only through `group_owners`: the old owner releases it (after its revoke
callback, where it commits) before the new owner may claim it, and commits check ownership, so a
member that lost a partition can never overwrite its new owner's offsets.
"""

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from iotstream.log.config import LogSettings
from iotstream.log.exceptions import CommitFailedError
from iotstream.log.sqlite._db import now_ms, translate_errors, write_txn
from iotstream.log.types import PartitionsCallback, TopicPartition

__all__ = ["GroupMember", "assign_partitions"]

Offsets = dict[TopicPartition, int | None]


def assign_partitions(
    members: dict[str, list[str]], partitions: dict[str, int]
) -> dict[str, set[TopicPartition]]:
    """Deal each topic's partitions round-robin over the members subscribed to it, sorted by id.

    >>> sorted(assign_partitions({"a": ["t"], "b": ["t"]}, {"t": 3})["b"])
    [TopicPartition(topic='t', partition=1)]
    """
    result: dict[str, set[TopicPartition]] = {member: set() for member in members}
    for topic, count in partitions.items():
        subscribers = sorted(m for m, topics in members.items() if topic in topics)
        for partition in range(count) if subscribers else ():
            result[subscribers[partition % len(subscribers)]].add(TopicPartition(topic, partition))
    return result


class GroupMember:
    """This consumer's seat in its group; the consumer calls `maybe_sync` on every poll."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        group_id: str,
        settings: LogSettings,
        on_change: Callable[[set[TopicPartition], Offsets], None],
    ) -> None:
        self.group_id = group_id
        self.member_id = f"member-{uuid.uuid4().hex[:12]}"
        self._conn = conn
        self._path = path
        self._settings = settings
        self._on_change = on_change  # (lost or revoked, acquired with committed offsets)
        self._topics: list[str] = []
        self._owned: set[TopicPartition] = set()
        self._generation = -1
        self._next_heartbeat = 0.0
        self._waiting_for_release = False
        self.on_assign: PartitionsCallback | None = None
        self.on_revoke: PartitionsCallback | None = None

    @property
    def owned(self) -> set[TopicPartition]:
        return set(self._owned)

    def join(self, topics: list[str]) -> None:
        self._topics = topics
        with translate_errors(self._path), write_txn(self._conn):
            self._conn.execute(
                "INSERT OR REPLACE INTO group_members VALUES (?, ?, ?, ?)",
                (self.group_id, self.member_id, json.dumps(topics), now_ms()),
            )
            self._bump_generation()
        self._next_heartbeat = 0.0

    def leave(self) -> None:
        """Hand back everything at once, so the others rebalance now rather than after a timeout."""
        if self.on_revoke and self._owned:
            self.on_revoke(sorted(self._owned))
        with translate_errors(self._path), write_txn(self._conn):
            self._delete_members([self.member_id])
            self._bump_generation()
        self._owned.clear()

    def maybe_sync(self) -> None:
        due = time.monotonic() >= self._next_heartbeat or self._waiting_for_release
        if due or self._read_generation() != self._generation:
            with translate_errors(self._path):
                self._sync()

    def check_owned(self, partitions: Iterable[TopicPartition]) -> None:
        """Inside a commit transaction: refuse offsets for partitions another member owns now."""
        owners = dict(self._owners())
        for tp in partitions:
            if owners.get(tp) != self.member_id:
                raise CommitFailedError(
                    f"cannot commit {tp.topic}[{tp.partition}] for group {self.group_id!r}: the "
                    "partition was reassigned to another member (this consumer was too slow or "
                    "a rebalance is in progress)"
                )

    def _sync(self) -> None:
        members, owners = self._heartbeat()
        partitions = self._partition_counts()
        target = assign_partitions(members, partitions).get(self.member_id, set())
        lost = {tp for tp in self._owned if owners.get(tp) != self.member_id}
        revoke = self._owned - lost - target
        if lost:
            self._owned -= lost
            self._on_change(lost, {})
        if revoke:
            self._release(revoke)
        acquired = self._claim(target - self._owned, set(members))
        if acquired:
            self._owned |= set(acquired)
            self._on_change(set(), acquired)
            if self.on_assign:
                self.on_assign(sorted(acquired))
        self._waiting_for_release = self._owned != target
        self._next_heartbeat = time.monotonic() + self._settings.heartbeat_interval_ms / 1000

    def _heartbeat(self) -> tuple[dict[str, list[str]], dict[TopicPartition, str]]:
        now = now_ms()
        with write_txn(self._conn):
            updated = self._conn.execute(
                "UPDATE group_members SET heartbeat_ms = ? WHERE group_id = ? AND member_id = ?",
                (now, self.group_id, self.member_id),
            ).rowcount
            if not updated:  # we were expired while not polling: rejoin as a new seat
                self._conn.execute(
                    "INSERT INTO group_members VALUES (?, ?, ?, ?)",
                    (self.group_id, self.member_id, json.dumps(self._topics), now),
                )
                self._bump_generation()
            expired = [
                r[0]
                for r in self._conn.execute(
                    "SELECT member_id FROM group_members WHERE group_id = ? AND heartbeat_ms < ?",
                    (self.group_id, now - self._settings.session_timeout_ms),
                )
            ]
            if expired:
                self._delete_members(expired)
                self._bump_generation()
            members = {
                member: json.loads(topics)
                for member, topics in self._conn.execute(
                    "SELECT member_id, topics FROM group_members WHERE group_id = ?",
                    (self.group_id,),
                )
            }
            self._generation = self._read_generation()
            owners = dict(self._owners())
        return members, owners

    def _release(self, revoke: set[TopicPartition]) -> None:
        if self.on_revoke:
            self.on_revoke(sorted(revoke))  # the owner commits here, while it still owns them
        with write_txn(self._conn):
            for tp in revoke:
                self._conn.execute(
                    "DELETE FROM group_owners WHERE group_id = ? AND topic = ? AND partition = ?"
                    " AND member_id = ?",
                    (self.group_id, tp.topic, tp.partition, self.member_id),
                )
        self._owned -= revoke
        self._on_change(revoke, {})

    def _claim(self, wanted: set[TopicPartition], live: set[str]) -> Offsets:
        """Take the wanted partitions nobody live holds; return them with their committed offsets."""
        acquired: Offsets = {}
        with write_txn(self._conn):
            owners = dict(self._owners())
            for tp in wanted:
                if owners.get(tp) in live:
                    continue  # still held by its previous owner until it releases it
                self._conn.execute(
                    "INSERT OR REPLACE INTO group_owners VALUES (?, ?, ?, ?)",
                    (self.group_id, tp.topic, tp.partition, self.member_id),
                )
                acquired[tp] = self._committed(tp)
        return acquired

    def _committed(self, tp: TopicPartition) -> int | None:
        row = self._conn.execute(
            "SELECT next_offset FROM group_offsets WHERE group_id = ? AND topic = ? AND partition = ?",
            (self.group_id, tp.topic, tp.partition),
        ).fetchone()
        return None if row is None else int(row[0])

    def _owners(self) -> Iterable[tuple[TopicPartition, str]]:
        rows = self._conn.execute(
            "SELECT topic, partition, member_id FROM group_owners WHERE group_id = ?",
            (self.group_id,),
        )
        return [(TopicPartition(topic, partition), member) for topic, partition, member in rows]

    def _partition_counts(self) -> dict[str, int]:
        placeholders = ",".join("?" * len(self._topics))
        rows = self._conn.execute(
            f"SELECT name, partitions FROM topics WHERE name IN ({placeholders})",  # noqa: S608
            self._topics,
        )
        return {name: count for name, count in rows}

    def _delete_members(self, members: list[str]) -> None:
        for member in members:
            self._conn.execute(
                "DELETE FROM group_members WHERE group_id = ? AND member_id = ?",
                (self.group_id, member),
            )
            self._conn.execute(
                "DELETE FROM group_owners WHERE group_id = ? AND member_id = ?",
                (self.group_id, member),
            )

    def _bump_generation(self) -> None:
        self._conn.execute(
            "INSERT INTO group_generations VALUES (?, 1)"
            " ON CONFLICT (group_id) DO UPDATE SET generation = generation + 1",
            (self.group_id,),
        )

    def _read_generation(self) -> int:
        row = self._conn.execute(
            "SELECT generation FROM group_generations WHERE group_id = ?", (self.group_id,)
        ).fetchone()
        return -1 if row is None else int(row[0])
