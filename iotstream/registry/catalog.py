"""Opening the catalog: `sqlite:///registry.db` (embedded) or `postgresql://…` (distributed), migrated
to the current schema with Alembic on open, so an old data directory upgrades itself.
"""

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from iotstream.exceptions import ConfigError, IotStreamError
from iotstream.registry.changes import Changes, changes_of, track

__all__ = ["Catalog", "CatalogUnavailableError", "open_catalog"]

_log = logging.getLogger(__name__)
_MIGRATIONS = Path(__file__).with_name("migrations")


class CatalogUnavailableError(IotStreamError):
    """The catalog's database cannot write now (its disk is full, its server is gone): try again."""

    retriable = True


class Catalog:
    """The catalog database. `session()` is a unit of work: everything in it commits or nothing does.

    `on_commit` callbacks hear what each committed transaction touched (the registry topics are
    published from there); on SQLite they run while the writer lock is still held, so they see the
    commits in order.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.on_commit: list[Callable[[Changes], None]] = []
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        track(self._sessions)
        self._write_lock = threading.Lock()  # SQLite has one writer; waiting here beats "database is locked"

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        lock: AbstractContextManager[object] = (
            self._write_lock if write and self.dialect == "sqlite" else nullcontext()
        )
        with lock:
            try:
                with self._sessions.begin() as session:
                    yield session
            except OperationalError as err:  # a full disk, a lost connection: nothing was written
                raise CatalogUnavailableError(f"the catalog ({self.dialect}) failed: {err.orig}") from err
            changes = changes_of(session)
            if changes is not None:
                self._committed(changes)

    def _committed(self, changes: Changes) -> None:
        """A callback that fails is logged: the transaction has committed, the request succeeded."""
        for callback in self.on_commit:
            try:
                callback(changes)
            except Exception:
                _log.exception("after a catalog commit, %r failed", callback)

    def ping(self) -> None:
        """Raises when the database does not answer (readiness checks)."""
        with self._sessions.begin() as session:
            session.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()


def open_catalog(url: str) -> Catalog:
    engine = _engine(url)
    with engine.connect() as connection, _foreign_keys_off(connection), connection.begin():
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        _check_references(connection)  # before the commit: a migration that broke them is rolled back
    return Catalog(engine)


@contextmanager
def _foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite migrations rebuild a table (copy, drop, rename); dropping a table that other rows refer
    to fails while foreign keys are enforced, so they are off while migrating (and checked before the
    migration commits)."""
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.driver_connection
    assert raw is not None  # noqa: S101 - an open connection has its DBAPI connection
    raw.execute("PRAGMA foreign_keys=OFF")  # outside any transaction, or SQLite ignores it
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def _check_references(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise ConfigError(f"the catalog's migration left rows whose references are broken: {broken[:5]}")


def _engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin)
        return engine
    if url.startswith(("postgresql://", "postgres://")):
        driver_url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return create_engine(driver_url, pool_pre_ping=True)
    raise ConfigError(f"[registry] url {url!r} must start with sqlite:/// or postgresql://")


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # Transactions are SQLAlchemy's (see _begin): pysqlite's own would run DDL outside them, so a
    # migration that fails half-way would leave its first steps behind.
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")
