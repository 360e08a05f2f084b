"""The store's typed base: one SQLite file through a SQLAlchemy engine.

It owns what every table group shares: opening the file (read-only or as
the one writer), the pragmas each connection gets, the write transaction
that turns SQLite's environment faults into user errors (a full disk is a
:class:`StorageError`, a damaged file an :class:`IndexCorruptError`), and
the ``meta`` table with the manifest that says what the vectors mean.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

from sqlalchemy import Connection, CursorResult, Engine, create_engine, delete, event, insert, select
from sqlalchemy.exc import DatabaseError
from sqlalchemy.pool import QueuePool

from desktop_search.errors import IndexCorruptError, IndexMismatchError, StorageError
from desktop_search.storage import upgrade
from desktop_search.storage.records import Manifest
from desktop_search.storage.schema import MetaKey, meta, register_functions

_IN_CHUNK = 500  # bound on SQL parameters per IN (...) clause


def batched(seq: Sequence[Any], n: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    """``seq`` in slices small enough for one ``IN (...)`` clause."""
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def new_id(result: CursorResult[Any]) -> int:
    """The primary key an INSERT gave its row."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("INSERT returned no primary key")
    return int(key[0])


def _disk_full(path: Path) -> bool:
    try:
        return shutil.disk_usage(path.parent).free < 1024**2
    except OSError:
        return False


class StoreBase:
    """The metadata database of one data dir: engine, write transactions and the manifest."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self.known_words: set[str] = set()  # words the vocabulary holds, as far as this process knows (documents.py)
        if readonly and not path.exists():
            raise StorageError(f"No index at {path.parent}. Run `desktop-search index FOLDER` first.")
        if readonly:
            # A reader must never create files or take write locks in the data dir.
            uri = f"file:{quote(str(path))}?mode=ro"
            if not os.access(path.parent, os.W_OK) and not Path(f"{path}-shm").exists():
                # WAL needs a -shm file that a read-only folder cannot get; with none there,
                # no writer is active, so reading the file as immutable is safe.
                uri += "&immutable=1"
            def creator() -> sqlite3.Connection:
                return sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)

            # A pool of connections, each used by one thread at a time, as for the writable file. The URL
            # alone ("sqlite://") would get SQLAlchemy's SingletonThreadPool, which closes a connection
            # another thread still uses once a sixth thread connects: the window's threads crashed in SQLite.
            self.engine: Engine = create_engine("sqlite://", creator=creator, poolclass=QueuePool)
        else:
            try:
                # Owner-only from the start; SQLite gives the -wal and -shm files the same mode.
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            except OSError:
                pass  # SQLite's own open reports the problem in its words
            self.engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(self.engine, "connect", self._on_connect)
        try:
            with self._user_errors():
                upgrade.open_schema(self.engine, path, writable=not readonly)
        except Exception:  # re-raised: a store that failed to open leaves no engine behind
            self.engine.dispose()
            raise

    def _on_connect(self, dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        register_functions(dbapi_conn)  # the full-text triggers call them on every passage written
        cur = dbapi_conn.cursor()
        if not self.readonly:
            cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash; only power loss can lose
        # the last commits, and it cannot corrupt the database.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction that turns environment faults into user errors."""
        if self.readonly:
            raise StorageError("This index is open read-only.")
        with self._user_errors(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _user_errors(self) -> Iterator[None]:
        """Re-raise SQLite's environment faults as user errors; a bug's error passes unchanged."""
        try:
            yield
        except (DatabaseError, sqlite3.DatabaseError) as exc:  # through SQLAlchemy, or a format upgrade's own
            user_error = self._classify(exc)
            if user_error is None:
                raise
            raise user_error from exc

    def _classify(self, exc: Exception) -> Exception | None:
        """Map SQLite's environment faults to user-facing errors, by SQLite's result code; None for bugs."""
        orig = getattr(exc, "orig", exc)
        code = getattr(orig, "sqlite_errorcode", None)
        if not isinstance(code, int):
            return None
        primary = code & 0xFF  # extended codes (SQLITE_IOERR_SHMMAP, ...) carry the primary one in the low byte
        msg = str(orig)
        if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            return IndexCorruptError(
                f"The index database {self.path} is damaged ({msg}). "
                "Run `desktop-search index --rebuild` to rebuild it from your folders."
            )
        if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
            return StorageError(f"Cannot write the index at {self.path.parent}: {msg}")
        if primary == sqlite3.SQLITE_FULL or (primary == sqlite3.SQLITE_IOERR and _disk_full(self.path)):
            # A full disk can surface as an I/O error, e.g. when the -shm file cannot be mapped.
            return StorageError(f"The disk holding {self.path.parent} is full. Free some space and run again.")
        if primary == sqlite3.SQLITE_IOERR:
            return StorageError(f"Cannot write the index at {self.path.parent}: the disk reported an I/O error.")
        return None

    # -- manifest and bookkeeping -------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()

    def _set_meta(self, conn: Connection, key: str, value: str) -> None:
        conn.execute(delete(meta).where(meta.c.key == key))
        conn.execute(insert(meta).values(key=key, value=value))

    def manifest(self) -> Manifest | None:
        raw = self.get_meta(MetaKey.MANIFEST)
        if raw is None:
            return None
        data = json.loads(raw)
        return Manifest(**data)

    def check_manifest(self, wanted: Manifest) -> None:
        """Record ``wanted`` on a new index; refuse a different one on an old index."""
        have = self.manifest()
        if have is None:
            with self._write() as conn:
                self._set_meta(conn, MetaKey.MANIFEST, json.dumps(asdict(wanted)))
            return
        diffs = have.differences(wanted)
        if diffs:
            raise IndexMismatchError(
                "This index was built with different settings ("
                + "; ".join(diffs)
                + "). Use the index's model and settings, or run `desktop-search index --rebuild` "
                "to re-embed every document with the new ones."
            )
