"""`iotstream import FILE`: history from CSV, Parquet or JSON lines, in file order, sent to a running
platform (`--url`) or written straight into the configured log (`_bulk`), several times faster.

Progress is kept in `FILE.import-state` after every batch the platform (or the log) took, so an
interrupted import resumes after the last one (`--restart` starts over). Re-sending a reading is
harmless: it keeps its message id and is stored once.
"""

import gc
import math
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool as BrokenExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import msgspec
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from iotstream.cli._context import err_console, state
from iotstream.client.files import (
    CHUNK_ROWS,
    Columns,
    UnreadableFileError,
    chunks,
    count_rows,
    file_format,
)
from iotstream.exceptions import IotStreamError
from iotstream.ingest.columns import Encoded, encoded

if TYPE_CHECKING:
    from iotstream.cli._bulk import BulkIngest
    from iotstream.client.sending import Sender

__all__ = ["import_file"]

_T = TypeVar("_T")
_SAVE_EVERY_S = 1.0


class ImportFailedError(IotStreamError):
    pass


def import_file(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A .csv, .parquet or .jsonl file.")
    ],
    url: Annotated[
        str | None,
        typer.Option(help="A running platform to send to; without it, straight into the configured log."),
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="IOTSTREAM_TOKEN", help="A writer's bearer token.")
    ] = None,
    datastream_column: Annotated[str, typer.Option(help="The column naming the datastream.")] = "datastream",
    time_column: Annotated[str, typer.Option(help="The column holding the time.")] = "time",
    value_column: Annotated[str, typer.Option(help="The column holding the value.")] = "value",
    wide: Annotated[bool, typer.Option(help="One column per datastream (besides the time).")] = False,
    time_unit: Annotated[str, typer.Option(help="Of numeric times: s, ms, us or ns.")] = "ms",
    timezone: Annotated[
        str, typer.Option(help="Of times written without a zone, e.g. Europe/Berlin.")
    ] = "UTC",
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Readings per request.")] = 5_000,
    restart: Annotated[bool, typer.Option(help="Start over instead of resuming.")] = False,
    processes: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=64,
            help="Without --url: processes that encode a Parquet file's readings while this one writes "
            "them to the log (default: half the CPUs less one, at most 4; 0: none).",
        ),
    ] = None,
) -> None:
    """Send every row's readings; report each refused row by its line and go on."""
    try:
        file_format(file)
        columns = Columns(datastream_column, time_column, value_column, wide, time_unit, timezone)
    except ValueError as err:
        raise ImportFailedError(str(err)) from None
    progress_file = file.with_name(file.name + ".import-state")
    done = 0 if restart else _resumed(progress_file, file)
    workers = 0 if url or wide else _workers(file, processes)
    encoders = _encoders(workers) if workers else None  # they boot while this process loads the rest
    from iotstream.cli._bulk import BulkIngest, BulkIngestError  # the catalog's and log's modules
    from iotstream.client.sending import Sender, SendError  # httpx, only to send over HTTP

    try:
        sender: Sender | BulkIngest = Sender(url, token) if url else BulkIngest(state(ctx).settings)
        gc.freeze()  # what is loaded stays: collections while millions of readings pass need not walk it
        try:
            sent, refused = _send(file, columns, done, batch, sender, progress_file, encoders, 1 + workers)
        finally:
            sender.close()
    except (SendError, BulkIngestError, BrokenExecutor) as err:
        raise ImportFailedError(f"{err} (resume with the same command)") from None
    except UnreadableFileError as err:
        raise ImportFailedError(f"{err}; the import stopped there (rows taken so far stay taken)") from None
    finally:
        if encoders is not None:
            encoders.shutdown(cancel_futures=True)
    progress_file.unlink(missing_ok=True)
    err_console.print(f"imported {sent} readings from {file.name}; {refused} rows could not be read")


def _workers(file: Path, processes: int | None) -> int:
    """Worker processes for a Parquet file's typed batches. Hashing each reading's id and encoding its
    record take a third of a direct import's time with the GIL held; in workers, they leave this
    process to read the file and write the log. By default the import takes half the CPUs, this
    process included, and at most 4 workers: the other half is the platform's, which stores the
    readings as they arrive. On 2 CPUs that is no worker: there, beside a running platform, one made
    the import no faster. A file of one batch has nothing to overlap."""
    if file_format(file) != "parquet" or count_rows(file) <= CHUNK_ROWS:
        return 0
    return max(0, min(4, (os.cpu_count() or 1) // 2 - 1)) if processes is None else processes


def _encoders(workers: int) -> ProcessPoolExecutor:
    """Forked from a server process that loaded only what encoding needs (spawned where there is
    none), not from this one, whose threads a fork would leave half-copied."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(["iotstream.ingest.columns"])
    encoders = ProcessPoolExecutor(workers, mp_context=context)
    encoders.submit(int)
    return encoders


def _send(
    file: Path,
    columns: Columns,
    done: int,
    size: int,
    sender: "Sender | BulkIngest",
    progress_file: Path,
    encoders: Executor | None = None,
    ahead: int = 1,
) -> tuple[int, int]:
    refused = 0
    pending: list[dict[str, object]] = []
    rows_of: list[int] = []  # each pending reading's row
    shown = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.speed} rows/s"),
    ]
    with Progress(*shown, TimeRemainingColumn(), console=err_console, transient=True) as progress:
        task = progress.add_task(file.name, total=count_rows(file), completed=done)
        with _Batches(sender, file, progress_file, encoders, ahead) as batches:
            last_row = done
            for chunk in chunks(file, columns, skip=done):
                if chunk.columns is not None and hasattr(sender, "submit_columns"):  # straight into the log
                    if pending:  # in file order: what came before first
                        batches.send(pending, rows_of, last_row)
                        pending, rows_of = [], []
                    batches.send_columns(chunk.columns, chunk.last_row)
                    last_row = chunk.last_row
                    progress.update(task, completed=last_row)
                    continue
                chunk.as_readings()
                for row, reason in chunk.refused:
                    err_console.print(f"row {row}: {reason}")
                refused += len(chunk.refused)
                pending += chunk.readings
                rows_of += chunk.rows_of
                while len(pending) >= size:
                    cut = _whole_rows(rows_of, size)
                    batches.send(pending[:cut], rows_of[:cut], rows_of[cut - 1])
                    pending, rows_of = pending[cut:], rows_of[cut:]
                last_row = chunk.last_row
                progress.update(task, completed=last_row)
            batches.send(pending, rows_of, last_row)
    return batches.sent, refused


def _whole_rows(rows_of: list[int], size: int) -> int:
    """How many readings from the front make about `size` without splitting a row (of a wide file), so
    an import resumed after a batch's last row misses none of that row's readings."""
    cut = size
    while cut < len(rows_of) and rows_of[cut] == rows_of[cut - 1]:
        cut += 1
    return cut


class _Batches:
    """Batches sent in file order on one thread while the next is read: the platform and the file's
    reading take turns otherwise. A typed Parquet batch is only queued for the log there, and its
    acknowledgement awaited here, in file order, so the log writes one batch while the next is encoded.
    The progress file follows the batches the platform took, in file order (`_save`)."""

    def __init__(
        self,
        sender: "Sender | BulkIngest",
        file: Path,
        progress_file: Path,
        encoders: Executor | None = None,
        ahead: int = 1,
    ) -> None:
        self._sender, self._file, self._progress_file = sender, file, progress_file
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="iotstream-import")
        self._in_flight: deque[Future[Callable[[], int]]] = deque()  # each batch's way to finish
        self._encoders, self._ahead = encoders, ahead
        self._failed = False
        self._taken_row: int | None = None
        self._written_row: int | None = None
        self._saved_at = -math.inf
        self.sent = 0

    def send(self, readings: list[dict[str, object]], rows_of: list[int], row: int) -> None:
        self._in_flight.append(self._pool.submit(self._deliver, readings, rows_of, row))
        self._settle(keep=self._ahead)

    def send_columns(self, columns: "tuple[list[str], list[int], list[Any]]", row: int) -> None:
        """A whole batch of a typed Parquet file's rows, one reading each, as columns (`BulkIngest`);
        with `encoders`, a worker process encodes it while this one reads and writes the others."""
        encoding = None
        if self._encoders is not None:
            encoding = self._encoders.submit(encoded, *columns, time.time_ns() // 1_000_000)
        self._in_flight.append(self._pool.submit(self._submit_columns, columns, row, encoding))
        self._settle(keep=self._ahead)

    def _settle(self, keep: int) -> None:
        while len(self._in_flight) > keep:
            self.sent += self._in_flight.popleft().result()()

    def _deliver(self, readings: list[dict[str, object]], rows_of: list[int], row: int) -> Callable[[], int]:
        """Send the batch; what it returns reports and records it, on the main thread in file order:
        a batch taken here while an earlier one is still on its way to the log must not move the
        resume point past that one."""
        rejected = self._taken(lambda: self._sender.send(readings) if readings else [])

        def finish() -> int:
            for index, reason in rejected:
                err_console.print(f"row {rows_of[index]}: {reason}")
            self._save(row)
            return len(readings) - len(rejected)

        return finish

    def _submit_columns(
        self,
        columns: "tuple[list[str], list[int], list[Any]]",
        row: int,
        encoding: "Future[Encoded | None] | None" = None,
    ) -> Callable[[], int]:
        """Queue the batch for the log; what it returns waits until the log has it. Should the log fail
        a batch, one queued after it may still be stored: a resumed import sends it again, and its
        readings keep their message ids, so they are stored and counted once."""
        bulk: BulkIngest = self._sender  # type: ignore[assignment]  # `_send` checked it takes columns
        if encoding is None:
            taken = self._taken(lambda: bulk.submit_columns(*columns))
        else:
            taken = self._taken(lambda: bulk.submit_encoded(*columns, encoding.result()))
        first = row - len(columns[0]) + 1

        def finish() -> int:
            rejected = self._taken(taken)
            for index, reason in rejected:
                err_console.print(f"row {first + index}: {reason}")
            self._save(row)
            return len(columns[0]) - len(rejected)

        return finish

    def _taken(self, send: "Callable[[], _T]") -> "_T":
        if self._failed:  # an earlier batch was not taken: a later one must not move the resume point
            raise ImportFailedError("stopped after a batch that was not taken")
        try:
            return send()
        except Exception:
            self._failed = True
            raise

    def _save(self, row: int) -> None:
        """Every row up to `row` was taken. The progress file says so at most once a second, and when
        the import ends: writing it after every batch cost a fifth of a direct import's time. Killed,
        the import sends at most a second's batches again, which are stored and counted once."""
        self._taken_row = row
        if time.monotonic() - self._saved_at >= _SAVE_EVERY_S:
            self._write_progress()

    def _write_progress(self) -> None:
        if self._taken_row is None or self._taken_row == self._written_row:
            return
        stat = self._file.stat()
        state = {"rows": self._taken_row, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        written = self._progress_file.with_name(self._progress_file.name + ".new")
        written.write_bytes(msgspec.json.encode(state))
        written.replace(self._progress_file)  # whole or not at all, even when interrupted
        self._written_row, self._saved_at = self._taken_row, time.monotonic()

    def __enter__(self) -> "_Batches":
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        try:
            if error is None:
                self._settle(keep=0)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._write_progress()


def _resumed(progress_file: Path, file: Path) -> int:
    """Rows already taken by the platform, if the file is the one they were taken from."""
    if not progress_file.exists():
        return 0
    state_ = msgspec.json.decode(progress_file.read_bytes())
    stat = file.stat()
    if (state_.get("size"), state_.get("mtime_ns")) != (stat.st_size, stat.st_mtime_ns):
        raise ImportFailedError(f"{file.name} changed since the import stopped; use --restart to start over")
    err_console.print(f"resuming after row {state_['rows']}")
    return int(state_["rows"])
