"""Table definitions of the current storage format.

Changing them means a new ``SCHEMA_VERSION`` and a step in
:mod:`desktop_search.storage.migrations` that brings the previous format to it.
"""
from __future__ import annotations

import os
import sqlite3
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)

from desktop_search.language import cjk_grams, has_cjk

# 2: chunks.ocr (passages read by OCR from scanned pages).
# 3: passages are stored before their embedding (``chunks.embedding`` NULL until
# the embedding stream fills it) and failures carry a code (``documents.failure``).
# 4: the ``reembed`` queue and the embedding recipe in ``meta``; from 4 on the number
# is also ``PRAGMA user_version`` (1-3 left it 0: their format is told by structure).
# 5: the trigram index holds only passages with CJK text (contentless); words inside
# longer words are found through the ``vocab`` table and its own trigram index.
SCHEMA_VERSION = 5


class DocStatus(StrEnum):
    """A document's row status (stored as the bare word)."""

    INDEXED = "indexed"
    FAILED = "failed"


def stored_path(value: Any) -> Any:
    """A path as :class:`FsPath` stores it: TEXT, or the raw bytes of a name that is not UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return os.fsencode(value)
    return value


class MetaKey(StrEnum):
    """The keys of the ``meta`` table."""

    MANIFEST = "manifest"  # records.Manifest as JSON: what must match for the vectors to be comparable
    TITLE_RULE = "title_rule"  # recipe.TitleRule the stored vectors follow (those queued in ``reembed`` aside)
    EMBEDDING_ENGINE = "embedding_engine"  # the engines that made the stored vectors, comma-separated
    EMBEDDING_PRECISION = "embedding_precision"  # their arithmetic (fp32, bf16, ...), comma-separated
    MIGRATIONS = "migrations"  # JSON list of the format upgrades this file went through: when, from what


class ReembedReason(StrEnum):
    """Why a passage's stored vector is due to be computed again (stored as the bare word)."""

    TITLE_RULE = "title_rule"  # embedded under an older title rule that gives it other text (recipe.TitleRule)


class ReembedState(StrEnum):
    """Where a queued passage is: its old vector still serves until the new one is stored."""

    WAITING = "waiting"  # chunks.embedding holds the old vector; the new one is not computed yet
    STORED = "stored"  # chunks.embedding holds the new vector; the saved hnsw file may still hold the old one


class FsPath(TypeDecorator):
    """A file system path, stored exactly.

    A path that is valid Unicode is stored as TEXT. A POSIX name whose bytes
    are not UTF-8 reaches Python with lone surrogates (``os.fsdecode``), which
    SQLite's TEXT cannot hold; it is stored as a BLOB of its raw bytes
    (``os.fsencode``) and decoded back on the way out. A TEXT never equals a
    BLOB in SQLite, so the two forms cannot collide, and lookups by path work
    for both because every bound value goes through the same conversion.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return stored_path(value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return os.fsdecode(value) if isinstance(value, bytes) else value


metadata = MetaData()

# Key/value pairs (MetaKey): the manifest (schema, model, chunking), the embedding recipe and bookkeeping.
meta = Table(
    "meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)

folders = Table(
    "folders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", FsPath, nullable=False, unique=True),
    Column("include", Text, nullable=False, default="[]"),  # JSON list of globs
    Column("exclude", Text, nullable=False, default="[]"),
    Column("added_at", Float, nullable=False),
)

documents = Table(
    "documents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("folder_id", Integer, ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
    Column("path", FsPath, nullable=False, unique=True),
    Column("kind", String, nullable=False),  # pdf | epub
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("hash", String, nullable=False),
    Column("title", Text),
    Column("author", Text),
    Column("status", String, nullable=False),  # indexed | failed
    Column("error", Text),  # failure reason, or a warning for partly read files
    Column("failure", String),  # desktop_search.failures.FailureCode of a failed or partly read file; drives retries
    Column("attempts", Integer, nullable=False, default=1),  # reads that failed in a row
    Column("pages", Integer),  # pages (PDF) or spine items (EPUB)
    Column("lang", String),  # language.Lang value of its text; NULL if unknown (indexed before it was recorded)
    Column("indexed_at", Float, nullable=False),
    Index("ix_documents_hash", "hash"),
    Index("ix_documents_folder", "folder_id"),
)

# ``id`` is also the hnswlib label. AUTOINCREMENT keeps ids from ever being
# reused, so a stale hnsw file can never point a label at the wrong passage.
chunks = Table(
    "chunks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("document_id", Integer, ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
    Column("ordinal", Integer, nullable=False),
    Column("page", Integer),  # 1-based PDF page
    Column("page_label", String),  # the PDF's own label for that page, e.g. "xii"
    Column("section", Text),  # EPUB chapter title
    Column("href", Text),  # EPUB item href
    Column("char_start", Integer, nullable=False),  # offsets in the page/section text
    Column("char_end", Integer, nullable=False),
    Column("text", Text, nullable=False),
    # float16, L2-normalised; NULL while the passage waits for the embedding
    # stream (it is keyword-searchable already).
    Column("embedding", LargeBinary, nullable=True),
    Column("ocr", Boolean, nullable=False, default=False),  # read by OCR from a scanned page
    Index("ix_chunks_document", "document_id", "ordinal"),
    # The embedding stream's queue: passages without a vector, oldest first.
    Index("ix_chunks_pending", "id", sqlite_where=text("embedding IS NULL")),
    sqlite_autoincrement=True,
)

# Chunk ids deleted since the hnsw file was last saved; the file is a cache and
# these tell it what to ``mark_deleted`` when it is next opened.
deleted_chunks = Table(
    "deleted_chunks",
    metadata,
    Column("chunk_id", Integer, primary_key=True),
)

# Passages whose vector an index run computes again, after every new passage has
# its own: the old vector stays in ``chunks.embedding`` (and in the hnsw file), and
# searches use it, until the new one replaces it. A row goes with its passage.
reembed = Table(
    "reembed",
    metadata,
    Column("chunk_id", Integer, ForeignKey("chunks.id", ondelete="CASCADE"), primary_key=True),
    Column("reason", String, nullable=False),  # ReembedReason
    Column("state", String, nullable=False),  # ReembedState
)

# Every distinct word (3 characters or more, no CJK: language.substring_words) the
# passages have held, for finding the words a piece of a word is inside: a search
# for "schiff" finds "dampfschifffahrt" in ``vocab_tri`` (FTS_DDL), then searches
# the word index for it. The two only grow: a word whose passages are gone
# matches nothing there. Written by the commit that brings a new word.
vocab = Table(
    "vocab",
    metadata,
    Column("word", Text, primary_key=True),
    sqlite_with_rowid=False,
)

# Word index: unicode61 folds case and removes diacritics; porter stems English
# words (ranking, rankings -> rank), which lifts bm25 on SciFact (see
# benchmarks/retrieval_eval.py). Other languages' words pass through unharmed.
FTS_TOKENIZE = "porter unicode61 remove_diacritics 2"

# Raw DDL SQLAlchemy cannot express: full-text indexes kept in step with
# ``chunks`` by triggers, so they change in the same transaction as the rows.
# The triggers call ``has_cjk`` and ``cjk_grams`` (language.py), registered on
# every connection (:func:`register_functions`).
FTS_DDL = [
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
        text, content='chunks', content_rowid='id',
        tokenize="{FTS_TOKENIZE}")""",
    # Trigram index: substrings of CJK text, which has no spaces between words.
    # Only passages with a CJK character: trigrams of every passage were the
    # most costly row an index run wrote (0.13 ms of the main process's 0.34 a
    # passage, benchmarks/bench_pipeline.py) and over half the database (7,139
    # bytes a passage against 3,379 without, benchmarks/bench_scale.py at 100,000
    # passages). Contentless: it holds a subset of ``chunks``, which an
    # external-content table may not. The insert and delete triggers ask the same
    # ``has_cjk``: a change to it is a new format that builds this index again.
    """CREATE VIRTUAL TABLE IF NOT EXISTS chunks_tri USING fts5(
        text, content='', tokenize='trigram')""",
    # CJK 1- and 2-grams (language.cjk_grams): one- and two-character words by
    # index lookup, not a scan. Contentless: the grams are derived from
    # chunks.text, which a delete recomputes.
    """CREATE VIRTUAL TABLE IF NOT EXISTS chunks_cjk USING fts5(
        grams, content='', tokenize='unicode61 remove_diacritics 0')""",
    # Substrings of the vocabulary's words (see ``vocab``), one word a row.
    """CREATE VIRTUAL TABLE IF NOT EXISTS vocab_tri USING fts5(word, tokenize='trigram')""",
    """CREATE TRIGGER IF NOT EXISTS chunks_cjk_ai AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_cjk(rowid, grams) VALUES (new.id, cjk_grams(new.text));
    END""",
    """CREATE TRIGGER IF NOT EXISTS chunks_cjk_ad AFTER DELETE ON chunks BEGIN
        INSERT INTO chunks_cjk(chunks_cjk, rowid, grams) VALUES ('delete', old.id, cjk_grams(old.text));
    END""",
    """CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER IF NOT EXISTS chunks_tri_ai AFTER INSERT ON chunks WHEN has_cjk(new.text) BEGIN
        INSERT INTO chunks_tri(rowid, text) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
        INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT OR IGNORE INTO deleted_chunks(chunk_id) VALUES (old.id);
    END""",
    """CREATE TRIGGER IF NOT EXISTS chunks_tri_ad AFTER DELETE ON chunks WHEN has_cjk(old.text) BEGIN
        INSERT INTO chunks_tri(chunks_tri, rowid, text) VALUES ('delete', old.id, old.text);
    END""",
]


def register_functions(con: sqlite3.Connection) -> None:
    """The functions the full-text triggers call; every connection that writes passages needs them."""
    con.create_function("has_cjk", 1, has_cjk, deterministic=True)
    con.create_function("cjk_grams", 1, cjk_grams, deterministic=True)


def missing(conn: Any, table: str, column: str | None = None) -> bool:
    """True if ``table`` (or its ``column``) is not in this database yet."""
    if column is None:
        return conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).scalar() is None
    return column not in {r[1] for r in conn.exec_driver_sql(f"PRAGMA table_info({table})")}
