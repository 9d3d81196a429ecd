"""Bulk writes into PostgreSQL: COPY from Arrow, staging tables, merges and rollup refreshes.

Everything here runs inside the caller's transaction; nothing goes through executemany.
"""

import io
from typing import Any

import msgspec
import psycopg
import pyarrow as pa
from pyarrow import csv

from iotstream.models import Observation
from iotstream.storage.rollups import MERGE_MINUTES, POSTGRES, refresh

__all__ = [
    "copy_csv",
    "copy_new",
    "merge",
    "merge_minutes",
    "observation_row",
    "refresh_rollups",
    "stage",
    "stage_table",
]

_json = msgspec.json.Encoder()


def stage_table(cur: "psycopg.Cursor[Any]", table: str, stage: str = "") -> str:
    """An empty session-private copy of `table` plus the rows' position in the batch (`seq`)."""
    stage = f"stage_{stage or table}"
    cur.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    cur.execute(f"ALTER TABLE {stage} ADD COLUMN IF NOT EXISTS seq bigint")
    return stage


def stage(cur: "psycopg.Cursor[Any]", table: str, batch: pa.Table) -> None:
    """The batch in `stage_<table>`, emptied at commit."""
    copy_csv(cur, stage_table(cur, table), batch)


def merge_minutes(cur: "psycopg.Cursor[Any]", minutes: pa.Table) -> None:
    """Add a batch's own minute rollups to the stored ones (exact only if all its readings are new)."""
    copy_csv(cur, stage_table(cur, "rollup_1m", "minutes"), minutes)
    cur.execute(MERGE_MINUTES)


def copy_new(cur: "psycopg.Cursor[Any]", table: str, batch: pa.Table) -> bool:
    """COPY new rows straight into the table, about twice as fast as staging and upserting them.

    New rows are the rule and replays the exception, so this is tried first; False (nothing written)
    if some row is stored already.
    """
    try:
        with cur.connection.transaction():  # a savepoint: the failure undoes only this
            copy_csv(cur, table, batch)
    except psycopg.errors.UniqueViolation:
        return False
    return True


def copy_csv(cur: "psycopg.Cursor[Any]", table: str, batch: pa.Table) -> None:
    """Arrow writes the CSV in C, several times faster than COPYing row by row from Python."""
    text = io.BytesIO()
    csv.write_csv(batch, text, csv.WriteOptions(include_header=False))
    with cur.copy(f"COPY {table} ({', '.join(batch.column_names)}) FROM STDIN WITH (FORMAT csv)") as copy:
        copy.write(text.getbuffer())


def refresh_rollups(
    cur: "psycopg.Cursor[Any]",
    touched: list[tuple[str, int]],
    ranges: list[tuple[int, int]],
    minutes: bool,
) -> None:
    """Recompute the hours and days the batch touched, and its minutes unless they were merged."""
    cur.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS touched (datastream {POSTGRES.text} NOT NULL,"
        " bucket bigint NOT NULL) ON COMMIT DELETE ROWS"
    )
    with cur.copy("COPY touched (datastream, bucket) FROM STDIN") as copy:
        for row in touched:
            copy.write_row(row)
    for low, high in ranges:
        for statement in refresh(POSTGRES, low, high, minutes=minutes):
            cur.execute(statement)


def merge(cur: "psycopg.Cursor[Any]", table: str, columns: str, key: str) -> None:
    """Upsert the staged rows; the last row per key in the batch wins."""
    keys = {k.strip() for k in key.split(",")}
    updates = ", ".join(
        f"{c} = excluded.{c}" for c in (c.strip() for c in columns.split(",")) if c not in keys
    )
    rows = f"SELECT DISTINCT ON ({key}) {columns} FROM stage_{table} ORDER BY {key}, seq DESC"  # noqa: S608
    cur.execute(f"INSERT INTO {table} ({columns}) {rows} ON CONFLICT ({key}) DO UPDATE SET {updates}")


def observation_row(o: Observation) -> tuple[Any, ...]:
    numeric = type(o.result) in (int, float)
    value_json = None if numeric else _json.encode(o.result).decode()
    return (
        o.datastream,
        o.phenomenon_time_ms,
        o.result_time_ms,
        o.result if numeric else None,
        value_json,
        o.id,
    )
