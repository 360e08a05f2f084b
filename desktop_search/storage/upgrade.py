"""Opening a database file: create a new one, upgrade an older format in place, refuse a newer one.

Every :class:`~desktop_search.storage.database.Store` passes through
:func:`open_schema` before it reads or writes anything. The format is the
number in ``PRAGMA user_version`` (0 for formats 1-3, which did not set it:
their structure tells them apart, see :mod:`~desktop_search.storage.migrations`),
and :data:`STEPS` is the ordered list of plain functions that take one format
to the next.

Why numbered steps over ``PRAGMA user_version``, as Firefox and Signal keep
their SQLite files, and not Alembic:

- the number is four bytes of the file header: read without a table scan at
  every open (the window opens the index before its first search), and set in
  the same transaction as the step it records, so a step and its number
  commit together or not at all;
- the steps that matter here are raw SQL Alembic cannot generate or check:
  FTS5 virtual tables, their triggers and the functions the
  triggers call; its SQLite batch mode does not know them;
- the formats before 4 are not a revision chain (one number covered three
  layouts, a schema-1 index can carry schema-2 columns), so they must be told
  apart by structure whatever the tool; an ``alembic_version`` row would add
  nothing but a table;
- the app is frozen with PyInstaller: Alembic finds its scripts by path
  (``env.py``, ``versions/*.py``, Mako templates), files to collect and keep
  in step in each platform's recipe, where plain modules are imports.

An upgrade runs under the data dir's writer lock (the caller's, when it is
the indexer, or taken for the upgrade), after checking that the disk has
room and copying the database to ``index.sqlite3.bak-schema-N`` with
SQLite's backup API (committed WAL content included). Each step is one
transaction that also sets ``user_version`` and records itself in ``meta``
(when, from which format): a kill -9 leaves the file at the last committed
step, each of which is a complete format, and the next open goes on from there.

A reader (``search``, ``status``, the window) upgrades an older index too,
when it can take the lock: the upgrade is what ``index`` would do first, it
takes seconds and re-embeds nothing, and a search that refused until the
user found the right command would be the worse answer; reading every past
layout as it is would put all of them into every query. A reader that
cannot write the data dir says so and how to upgrade; one that finds the
lock taken (an older version indexing) says the index is busy.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.schema import CreateIndex, CreateTable

from desktop_search.checkpoints import checkpoint
from desktop_search.errors import IndexBusyError, IndexMismatchError, StorageError
from desktop_search.paths import DataPaths
from desktop_search.recipe import TITLE_RULE
from desktop_search.storage import migrations, schema
from desktop_search.storage.lock import WriterLock
from desktop_search.storage.migrations import Layout, set_meta
from desktop_search.storage.schema import SCHEMA_VERSION, MetaKey, meta, register_functions

logger = logging.getLogger(__name__)

# Free space an upgrade wants, as multiples of the database: the backup copy, plus, for a step
# that rewrites the passages, the new tables (the old pages stay in the file as free pages) and
# the WAL until its checkpoint. Measured (benchmarks/bench_migration.py, 200,000 passages, a
# 910 MB schema-2 database): the file grew by 390 MB and the WAL peaked at 791 MB, 1.3 times the
# database besides the backup; 2.5 leaves room for larger passages and a slower checkpoint.
BACKUP_FACTOR = 1.0
REWRITE_FACTOR = 2.5
SPACE_MARGIN = 16 * 2**20
NUMBERED_FROM = 3  # a user_version below this is 0: a format from before it was kept


@dataclass(frozen=True)
class Step:
    """One format to the next."""

    from_version: int
    to_version: int
    run: Callable[[sqlite3.Connection], None]
    rewrites: bool  # copies the passages: wants REWRITE_FACTOR times the database in free space


# In order. 0 is every format before user_version was kept (1, 2 and 3, told apart by structure).
STEPS = [
    Step(0, 3, migrations.to_3, rewrites=True),
    Step(3, 4, migrations.to_4, rewrites=False),
    Step(4, 5, migrations.to_5, rewrites=False),
]
assert STEPS[-1].to_version == SCHEMA_VERSION


@dataclass(frozen=True)
class FileFormat:
    """What an open found in the file, before changing anything."""

    user_version: int
    manifest_version: int | None
    layout: Layout | None  # formats 1-3 only
    empty: bool  # a new database: no tables yet

    @property
    def version(self) -> int:
        """The format number the steps start from (0 for formats 1-3)."""
        return self.user_version if self.user_version >= NUMBERED_FROM else 0

    @property
    def number(self) -> int:
        """The format's number for people (the backup's name, messages): the manifest's, before 4."""
        if self.user_version:
            return self.user_version
        return self.manifest_version if self.manifest_version is not None else 0

    @property
    def name(self) -> str:
        return self.layout.name if self.layout is not None else f"format {self.user_version}"

    @property
    def rewrites(self) -> bool:
        return any(s.rewrites for s in STEPS if s.from_version >= self.version) and not (
            self.layout is not None and self.layout.is_3)


def open_schema(engine: Engine, path: Path, writable: bool) -> None:
    """Create a new database, upgrade an older one, refuse a newer one; then prove the file reads.

    Raises :class:`IndexMismatchError` for a newer format, :class:`StorageError`
    when an upgrade cannot write or lacks disk space, :class:`IndexBusyError`
    when another process holds the writer lock; SQLite's own errors (a
    damaged file, a full disk) reach the caller as they are.
    """
    found = inspect_file(engine)
    if found.empty:
        if writable:
            _create(path)
    elif found.version > SCHEMA_VERSION or (found.manifest_version or 0) > SCHEMA_VERSION:
        raise IndexMismatchError(
            f"The index at {path.parent} was written by a newer version of desktop-search (storage format "
            f"{max(found.number, found.manifest_version or 0)}; this version knows formats up to {SCHEMA_VERSION}). "
            "Use that version, or run `desktop-search index --rebuild` to rebuild it from your folders."
        )
    elif found.version < SCHEMA_VERSION:
        upgrade(path, found, reader=not writable)
    with engine.connect() as conn:
        conn.execute(select(func.count()).select_from(meta)).scalar_one()


def inspect_file(engine: Engine) -> FileFormat:
    """The file's format, read through the store's own engine (a reader's too), changing nothing."""
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        user_version = int(raw.execute("PRAGMA user_version").fetchone()[0])
        if not migrations.has_tables(raw):
            return FileFormat(user_version, None, None, empty=True)
        layout = migrations.detect_layout(raw) if user_version < NUMBERED_FROM else None
        return FileFormat(user_version, migrations.manifest_version(raw), layout, empty=False)


def upgrade(path: Path, found: FileFormat, reader: bool = False) -> None:
    """Bring the file to the current format: lock, room, backup, then each step in its own transaction."""
    folder = path.parent
    if not _writable(path):
        raise StorageError(
            f"The index at {folder} was written by an older version of desktop-search ({found.name}) and must be "
            f"upgraded to this version's format, which writes to {folder}, and that folder is read-only. Make it "
            "writable, then run `desktop-search index` or open the window: the upgrade keeps every passage and "
            "vector (nothing is indexed again)."
        )
    with _writer_lock(DataPaths(folder).lock, found):
        _check_space(path, found)
        backup = backup_path(path, found.number)
        t0 = time.monotonic()
        make_backup(path, backup)
        with closing(_connect(path)) as con:
            for step in STEPS:
                if step.from_version >= found.version:
                    _run_step(con, step, backup)
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # give back the rewrite's WAL now, not at some later close
        logger.info("Upgraded the index at %s from %s to format %d in %.1f s%s; a copy of the old one is %s",
                    folder, found.name, SCHEMA_VERSION, time.monotonic() - t0, " for a reader" if reader else "",
                    backup.name)


def backup_path(path: Path, number: int) -> Path:
    return path.with_name(f"{path.name}.bak-schema-{number}")


def make_backup(path: Path, backup: Path) -> None:
    """Copy the database through SQLite (so the WAL's committed pages are in it), then rename it into place."""
    tmp = backup.with_name(f".{backup.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        with closing(sqlite3.connect(path, timeout=30)) as src, closing(sqlite3.connect(tmp)) as dst:
            src.backup(dst)
        os.chmod(tmp, 0o600)  # as private as the index
        checkpoint("backing-up")
        os.replace(tmp, backup)
    finally:
        tmp.unlink(missing_ok=True)


def _run_step(con: sqlite3.Connection, step: Step, backup: Path) -> None:
    con.execute("BEGIN IMMEDIATE")
    try:
        # Read under the write lock of the transaction: another opener may have done this step meanwhile.
        now = int(con.execute("PRAGMA user_version").fetchone()[0])
        if now >= step.to_version:
            con.execute("ROLLBACK")
            return
        was = migrations.detect_layout(con).name if step.from_version == 0 else f"format {step.from_version}"
        t0 = time.monotonic()
        step.run(con)
        row = con.execute("SELECT value FROM meta WHERE key = ?", (MetaKey.MIGRATIONS,)).fetchone()
        done = json.loads(row[0]) if row else []
        done.append({"from": was, "to": step.to_version, "at": datetime.now(UTC).isoformat(timespec="seconds"),
                     "seconds": round(time.monotonic() - t0, 2), "backup": backup.name})
        set_meta(con, MetaKey.MIGRATIONS, json.dumps(done))
        con.execute(f"PRAGMA user_version = {step.to_version}")
        checkpoint("migrating")
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    logger.info("Index format: %s -> %d", was, step.to_version)


def _create(path: Path) -> None:
    """A new database in the current format, in one transaction (a kill leaves an empty file, created again)."""
    with closing(_connect(path)) as con:
        con.execute("BEGIN IMMEDIATE")
        try:
            if migrations.has_tables(con):  # another opener was first
                con.execute("ROLLBACK")
                return
            for table in schema.metadata.sorted_tables:
                con.execute(migrations.ddl(CreateTable(table)))
                for index in sorted(table.indexes, key=lambda i: str(i.name)):
                    con.execute(migrations.ddl(CreateIndex(index)))
            for ddl in schema.FTS_DDL:
                con.execute(ddl)
            set_meta(con, MetaKey.TITLE_RULE, str(int(TITLE_RULE)))
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise


def _connect(path: Path) -> sqlite3.Connection:
    """A raw connection for steps: explicit transactions, foreign keys off (SQLite's table rebuild wants them
    off, and they are checked at the end of a rebuild), and the functions the full-text triggers call."""
    con = sqlite3.connect(path, isolation_level=None, timeout=30)
    register_functions(con)  # the full-text triggers call them on every passage written
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA busy_timeout=30000")
    con.execute("PRAGMA foreign_keys=OFF")
    return con


def _writable(path: Path) -> bool:
    """Whether this process may write the database and create its journal beside it."""
    files = [path] + [p for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
    return os.access(path.parent, os.W_OK) and all(os.access(p, os.W_OK) for p in files)


@contextmanager
def _writer_lock(lock_path: Path, found: FileFormat) -> Iterator[None]:
    """The writer lock for the upgrade: the caller's if this process holds it, else taken here."""
    if WriterLock.held(lock_path):
        yield
        return
    lock = WriterLock(lock_path)
    try:
        lock.acquire()
    except IndexBusyError as exc:
        raise IndexBusyError(
            f"The index at {lock_path.parent} was written by an older version of desktop-search ({found.name}) and "
            "must be upgraded before it can be used, but another desktop-search is writing to it. Try again when "
            "it has finished."
        ) from exc
    try:
        yield
    finally:
        lock.release()


def _check_space(path: Path, found: FileFormat) -> None:
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    needed = int(size * (BACKUP_FACTOR + (REWRITE_FACTOR if found.rewrites else 0.0))) + SPACE_MARGIN
    free = shutil.disk_usage(path.parent).free
    if free < needed:
        raise StorageError(
            f"Upgrading the index at {path.parent} from {found.name} to this version's format needs about "
            f"{_size(needed)} free on its disk (a backup copy of the index"
            + (", and room to rewrite its passages" if found.rewrites else "")
            + f"); {_size(free)} is free. Free some space and try again; nothing has been changed."
        )


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{max(1, round(n / 2**20))} MB"
