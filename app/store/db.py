"""Engine, sessions and migrations for SQLite (the default) and PostgreSQL."""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 0x7469676874  # "tight": one migrator at a time across processes
WRITE_TIMEOUT = 30.0  # seconds, as SQLite's busy timeout


class WriteBusy(TimeoutError):
    """Another writer held the store longer than a caller may wait."""


def normalize_url(url: str) -> str:
    """Plain ``postgresql://`` URLs (what operators paste) use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


class Database:
    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = make_url(normalize_url(url))
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite and self.url.database and self.url.database != ":memory:":
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {"pool_pre_ping": not self.is_sqlite, **engine_options}
        self.engine: Engine = create_engine(self.url, **options)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = threading.Lock()
        self._write_lock_path = (
            f"{self.url.database}.write.lock"
            if self.is_sqlite and self.url.database and self.url.database != ":memory:"
            else None
        )

    @contextmanager
    def writing(self, timeout: float | None = None) -> Iterator[None]:
        """Take turns before writing to SQLite, which lets one writer in at a time and makes
        the others poll with growing sleeps (1, 2, 5 … 100 ms): under a burst of webhooks,
        that polling, not the work, set the slowest answers. A thread lock queues this
        process's writers and a file lock the other processes' (polled every half
        millisecond, so that a wait has a deadline). Only the intake takes turns; other
        writers (workers, the sweeper) still meet SQLite's own polling. PostgreSQL needs
        neither. Raises WriteBusy when no turn came within ``timeout`` seconds (default:
        WRITE_TIMEOUT)."""
        if self._write_lock_path is None:
            yield
            return
        timeout = WRITE_TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + timeout
        if not self._writer.acquire(timeout=timeout):
            raise WriteBusy(f"no turn to write to the store within {timeout:g} s")
        try:
            with open(self._write_lock_path, "a") as lock:
                while True:
                    try:
                        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            raise WriteBusy(
                                f"no turn to write to the store within {timeout:g} s"
                            ) from None
                        time.sleep(0.0005)
                yield
        finally:
            self._writer.release()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        with self._sessions.begin() as session:
            yield session

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def migrate(self, to: str = "head") -> None:
        """Bring the schema to ``to`` (head: the latest); safe to call from several processes
        starting at once."""
        with self._migration_lock(), self.engine.begin() as connection:
            config = AlembicConfig()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.upgrade(config, to)

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.is_sqlite:
            database = self.url.database
            if not database or database == ":memory:":
                yield
                return
            with open(f"{database}.migrate.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                yield
            return
        with self.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(connection: Any, _record: object) -> None:
    # WAL lets the web process write events while a worker writes scans; the busy timeout
    # turns brief lock contention into a wait instead of "database is locked".
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
