"""Opening a database file: refuse another storage schema, bring this one up to date.

Every :class:`~desktop_search.storage.database.Store` passes through
:func:`open_schema` before it reads or writes anything, so this is the one
place that knows how an older file differs from the current schema; versioned
migrations belong here. Today a writer only adds what later versions added (a
column, the CJK n-gram index, a word index with the current tokenizer), in one
transaction and without re-embedding; a reader never changes the file.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from sqlalchemy import Connection, Engine, func, select

from desktop_search.errors import IndexMismatchError
from desktop_search.storage import schema
from desktop_search.storage.schema import meta, missing

logger = logging.getLogger(__name__)


def open_schema(engine: Engine, path: Path, writable: bool) -> None:
    """Refuse an index of another schema version, upgrade a writable one, and prove the file reads.

    Raises :class:`IndexMismatchError` for another version; SQLite's own
    errors (a damaged file, a full disk) reach the caller as they are.
    """
    _refuse_other_version(engine, path)
    if writable:
        with engine.begin() as conn:
            _bring_up_to_date(conn)
    with engine.connect() as conn:
        conn.execute(select(func.count()).select_from(meta)).scalar_one()


def _refuse_other_version(engine: Engine, path: Path) -> None:
    """An index written by another storage schema is refused before anything touches it."""
    with engine.connect() as conn:
        if conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").scalar() is None:
            return  # a new database
        raw = conn.execute(select(meta.c.value).where(meta.c.key == "manifest")).scalar_one_or_none()
    if raw is None:
        return
    version = json.loads(raw).get("schema_version")
    if version == schema.SCHEMA_VERSION:
        return
    older = isinstance(version, int) and version < schema.SCHEMA_VERSION
    raise IndexMismatchError(
        f"The index at {path.parent} was written by "
        + ("an older" if older else "a newer")
        + f" version of desktop-search (storage schema {version}; this version uses {schema.SCHEMA_VERSION}). "
        + ("Run `desktop-search index --rebuild` to rebuild it from your folders (the folder list is kept)."
           if older else "Use that version, or run `desktop-search index --rebuild` to rebuild it.")
    )


def _bring_up_to_date(conn: Connection) -> None:
    """Create what a new file lacks and add what later versions added, in the caller's transaction."""
    schema.metadata.create_all(conn)
    fill_grams = _add_later_columns(conn)
    rebuild = _drop_outdated_fts(conn)
    for ddl in schema.FTS_DDL:
        conn.exec_driver_sql(ddl)
    if rebuild:
        _rebuild_fts(conn)
    if fill_grams:
        _fill_cjk_index(conn)


def _add_later_columns(conn: Connection) -> bool:
    """Add what later versions added without changing what is there; True if the
    CJK n-gram index is new and must be filled from the chunks (no re-embedding)."""
    if missing(conn, "documents", "lang"):
        conn.exec_driver_sql("ALTER TABLE documents ADD COLUMN lang VARCHAR")
    return missing(conn, "chunks_cjk")


def _drop_outdated_fts(conn: Connection) -> bool:
    """Drop a word index built with another tokenizer; True if the caller must rebuild it.

    The index holds no data of its own (its content is ``chunks``), so it is
    rebuilt from the chunks in the same transaction, without re-embedding.
    """
    sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'chunks_fts'").scalar()
    if sql is None or schema.FTS_TOKENIZE in sql:
        return False
    logger.info("Rebuilding the keyword index with tokenizer %r", schema.FTS_TOKENIZE)
    conn.exec_driver_sql("DROP TABLE chunks_fts")
    return True


def _fill_cjk_index(conn: Connection) -> None:
    logger.info("Building the CJK n-gram index from the stored passages")
    conn.exec_driver_sql("INSERT INTO chunks_cjk(rowid, grams) SELECT id, cjk_grams(text) FROM chunks")


def _rebuild_fts(conn: Connection) -> None:
    conn.exec_driver_sql("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")
