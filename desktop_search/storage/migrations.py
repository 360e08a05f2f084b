"""The steps that bring an index written by an earlier version to the current storage format.

Each step takes the database from one format number to the next over a raw
``sqlite3`` connection, inside the transaction :mod:`~desktop_search.storage.upgrade`
opens for it (foreign keys off, ``cjk_grams`` registered). Stored passages,
their ids (the hnsw labels) and their float16 vectors are kept byte for byte:
every released format's vectors are what today's encoder computes from the
same text (same model, pooling, normalisation and storage), so no step
re-embeds; a step only queues the passages whose *text to embed* a rule
change altered (``reembed``), and their old vectors serve until an index run
replaces them.

Formats 1-3 left ``PRAGMA user_version`` at 0, and their manifest number does
not name a table layout (1 covered three; schema-2 code added its columns to
schema-1 indexes it then refused; branch builds wrote others), so
:func:`detect_layout` reads the structure and :func:`to_3` adds, per feature,
what the layout lacks.

A step builds today's tables from :mod:`~desktop_search.storage.schema` where
they have not changed since its format (``documents``, ``chunks``, the
``reembed`` since 4; the full-text DDL since 5). Whoever changes one of them in
a later format copies its old definition into the steps that use it first;
the fixture tests (every released format migrated to a fresh index's
``sqlite_master``) fail until then.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import astuple, dataclass
from typing import Any

from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable, Table

from desktop_search.checkpoints import checkpoint
from desktop_search.language import detect, substring_words
from desktop_search.recipe import TITLE_RULE, UNKNOWN, TitleRule, rule_changes_text
from desktop_search.storage import schema
from desktop_search.storage.schema import MetaKey, ReembedReason, ReembedState

# Old error wording -> failure code, where the retry policy needs the code to retry as the old
# version did (the schema-1/2 transient failures, and files waiting for Tesseract). The rest stay
# NULL, which the policy treats as a permanent failure: retried when the file changes.
_FAILURE_OF_ERROR = [
    ("timed out%", "timeout"),
    ("the reader %", "reader_died"),
    ("file disappeared%", "disappeared"),
    ("no text layer: install Tesseract%", "needs_tesseract"),
    ("%scanned pages need Tesseract%", "needs_tesseract"),
]
# The full-text DDL of formats 3 and 4 (schema.FTS_DDL changed in 5): what to_3 builds.
FTS_DDL_3 = [
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
        text, content='chunks', content_rowid='id',
        tokenize="{schema.FTS_TOKENIZE}")""",
    # Trigram index: substring matching for CJK text that has no spaces.
    """CREATE VIRTUAL TABLE IF NOT EXISTS chunks_tri USING fts5(
        text, content='chunks', content_rowid='id', tokenize='trigram')""",
    # CJK 1- and 2-grams (language.cjk_grams, registered on every connection):
    # one- and two-character words by index lookup, not a scan. Contentless:
    # the grams are derived from chunks.text, which a delete recomputes.
    """CREATE VIRTUAL TABLE IF NOT EXISTS chunks_cjk USING fts5(
        grams, content='', tokenize='unicode61 remove_diacritics 0')""",
    """CREATE TRIGGER IF NOT EXISTS chunks_cjk_ai AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_cjk(rowid, grams) VALUES (new.id, cjk_grams(new.text));
    END""",
    """CREATE TRIGGER IF NOT EXISTS chunks_cjk_ad AFTER DELETE ON chunks BEGIN
        INSERT INTO chunks_cjk(chunks_cjk, rowid, grams) VALUES ('delete', old.id, cjk_grams(old.text));
    END""",
    """CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
        INSERT INTO chunks_tri(rowid, text) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
        INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO chunks_tri(chunks_tri, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT OR IGNORE INTO deleted_chunks(chunk_id) VALUES (old.id);
    END""",
]
VOCAB_BATCH = 20000  # passages read at a time while to_5 fills the vocabulary
_LANG_SAMPLE = 20000  # characters of a document's text its language is told from, as at index time


@dataclass(frozen=True)
class Layout:
    """The structure of an index written before ``PRAGMA user_version`` was kept (formats 1-3)."""

    manifest_version: int | None
    porter: bool  # word index with the porter tokenizer (1b, 2e7a1dc)
    attempts: bool  # documents.attempts (1c, ec33157)
    ocr: bool  # chunks.ocr (2a, 18285e1)
    lang: bool  # documents.lang (2b, d4e7696; also added to 1c indexes by 2b code)
    cjk: bool  # the CJK n-gram index chunks_cjk (2b)
    failure: bool  # documents.failure (3, 70c1ecf)
    nullable_embedding: bool  # chunks.embedding NULL until embedded (3)
    pending_index: bool  # ix_chunks_pending (3)

    @property
    def is_3(self) -> bool:
        """Everything schema 3 has: the layout 70c1ecf to today's release wrote."""
        return all(astuple(self)[1:])

    @property
    def name(self) -> str:
        """The format in words, for the log and the meta table's record of upgrades."""
        known = _RELEASED.get(astuple(self)[1:])
        version = f"schema {self.manifest_version}" if self.manifest_version is not None else "an unversioned index"
        if known is not None:
            return f"{version} ({known})" if known else version
        have = [f for f, on in zip(_FEATURES, astuple(self)[1:], strict=True) if on]
        return f"{version} (a layout no release wrote: {', '.join(have) or 'none of the later features'})"


_FEATURES = ("porter word index", "documents.attempts", "chunks.ocr", "documents.lang", "CJK index",
             "documents.failure", "nullable embedding", "pending index")
# The layouts main's releases wrote (FORMATS.md in the research), by feature flags in Layout's order.
_RELEASED = {
    (False, False, False, False, False, False, False, False): "1a: unicode61 word index, no documents.attempts",
    (True, False, False, False, False, False, False, False): "1b: no documents.attempts",
    (True, True, False, False, False, False, False, False): "1c",
    (True, True, False, True, True, False, False, False): "1c, with documents.lang and the CJK index added by schema-2 code",
    (True, True, True, False, False, False, False, False): "2a: no documents.lang or CJK index",
    (True, True, True, True, True, False, False, False): "2b",
    (True, True, True, True, True, True, True, True): "",
}


def _columns(con: sqlite3.Connection, table: str) -> dict[str, bool]:
    """Column name -> NOT NULL."""
    return {r[1]: bool(r[3]) for r in con.execute(f"PRAGMA table_info({table})")}


def _has(con: sqlite3.Connection, name: str) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() is not None


def _manifest(con: sqlite3.Connection) -> dict[str, Any] | None:
    row = con.execute("SELECT value FROM meta WHERE key = ?", (MetaKey.MANIFEST,)).fetchone()
    return None if row is None else json.loads(row[0])


def has_tables(con: sqlite3.Connection) -> bool:
    """Whether the file holds an index at all (a new, empty database does not)."""
    return _has(con, "chunks") and _has(con, "documents") and _has(con, "meta")


def manifest_version(con: sqlite3.Connection) -> int | None:
    """The manifest's ``schema_version``, which every version so far has written (and older ones check)."""
    manifest = _manifest(con)
    version = None if manifest is None else manifest.get("schema_version")
    return version if isinstance(version, int) else None


def detect_layout(con: sqlite3.Connection) -> Layout:
    """Which features of formats 1-3 the database has, from its tables (not the manifest's number)."""
    docs, chunk_cols = _columns(con, "documents"), _columns(con, "chunks")
    fts = con.execute("SELECT sql FROM sqlite_master WHERE name = 'chunks_fts'").fetchone()
    return Layout(
        manifest_version=manifest_version(con),
        porter=fts is not None and "porter" in fts[0],
        attempts="attempts" in docs,
        ocr="ocr" in chunk_cols,
        lang="lang" in docs,
        cjk=_has(con, "chunks_cjk"),
        failure="failure" in docs,
        nullable_embedding=not chunk_cols.get("embedding", True),
        pending_index=_has(con, "ix_chunks_pending"),
    )


def ddl(element: Any) -> str:
    """The SQLite DDL SQLAlchemy writes for a table or index, as `create_all` would."""
    return str(element.compile(dialect=sqlite_dialect.dialect())).strip()


def _create_renamed(con: sqlite3.Connection, table: Table, name: str) -> None:
    con.execute(ddl(CreateTable(table)).replace(f"CREATE TABLE {table.name} ", f"CREATE TABLE {name} ", 1))


def _set_manifest_version(con: sqlite3.Connection, version: int) -> None:
    """The manifest's number follows the format: releases since 70c1ecf refuse an index whose number is not
    theirs, which keeps an older version from writing passages into an index it no longer understands."""
    con.execute("UPDATE meta SET value = json_set(value, '$.schema_version', ?) WHERE key = ?",
                (version, MetaKey.MANIFEST))


def set_meta(con: sqlite3.Connection, key: str, value: str) -> None:
    con.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value))


def to_3(con: sqlite3.Connection) -> None:
    """Formats 1-3 without ``user_version`` -> 3: rebuild ``documents`` and ``chunks`` into the schema-3
    tables (SQLite's 12-step rebuild: the embedding's NOT NULL cannot be dropped in place), add what the
    layout lacks, keep every id, text and vector byte.

    A layout that is schema 3 already only gets the number (nothing is rewritten).
    """
    layout = detect_layout(con)
    if layout.is_3:
        return
    seq_row = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'chunks'").fetchone()
    for trigger in ("chunks_ai", "chunks_ad", "chunks_cjk_ai", "chunks_cjk_ad"):
        con.execute(f"DROP TRIGGER IF EXISTS {trigger}")

    failure = "failure" if layout.failure else (
        "CASE " + " ".join(f"WHEN error LIKE '{like}' THEN '{code}'" for like, code in _FAILURE_OF_ERROR) + " END")
    _create_renamed(con, schema.documents, "documents_new")
    con.execute(f"""INSERT INTO documents_new (id, folder_id, path, kind, size, mtime_ns, hash, title, author, status,
                    error, failure, attempts, pages, lang, indexed_at)
                    SELECT id, folder_id, path, kind, size, mtime_ns, hash, title, author, status, error, {failure},
                    {'attempts' if layout.attempts else 1}, pages, {'lang' if layout.lang else 'NULL'}, indexed_at
                    FROM documents""")
    con.execute("DROP TABLE documents")
    con.execute("ALTER TABLE documents_new RENAME TO documents")

    _create_renamed(con, schema.chunks, "chunks_new")
    con.execute(f"""INSERT INTO chunks_new (id, document_id, ordinal, page, page_label, section, href, char_start,
                    char_end, text, embedding, ocr)
                    SELECT id, document_id, ordinal, page, page_label, section, href, char_start, char_end, text,
                    embedding, {'ocr' if layout.ocr else 0} FROM chunks""")
    # The word and trigram indexes are kept: they index chunks by id, and the copy must hold the same ids and texts.
    same = "SELECT count(*), max(id), total(length(text)), total(length(embedding)) FROM "
    if con.execute(same + "chunks").fetchone() != con.execute(same + "chunks_new").fetchone():
        raise sqlite3.IntegrityError("the rebuilt chunks table differs from the old one")
    con.execute("DROP TABLE chunks")
    con.execute("ALTER TABLE chunks_new RENAME TO chunks")
    # Ids are hnsw labels: the high-water mark survives, so no id is ever given twice.
    top = con.execute("SELECT max(id) FROM chunks").fetchone()[0] or 0
    con.execute("DELETE FROM sqlite_sequence WHERE name IN ('chunks', 'chunks_new')")
    con.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('chunks', ?)", (max(seq_row[0] if seq_row else 0, top),))
    for table in (schema.documents, schema.chunks):
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            con.execute(ddl(CreateIndex(index)))
    checkpoint("migrating-rebuilt")

    _backfill_lang(con)
    if not layout.porter:
        con.execute("DROP TABLE IF EXISTS chunks_fts")  # unicode61: the stemmed index replaces it, from the text
    for statement in FTS_DDL_3:
        con.execute(statement)  # CREATE ... IF NOT EXISTS: the word and trigram indexes are kept, as their content is
    if not layout.porter:
        con.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")
    if not layout.cjk:
        con.execute("INSERT INTO chunks_cjk(rowid, grams) SELECT id, cjk_grams(text) FROM chunks")
    # Formats before 3 all embedded "title\n" + passage (the rule changed inside 3, in b91051d).
    set_meta(con, MetaKey.TITLE_RULE, str(int(TitleRule.ALWAYS)))
    _set_manifest_version(con, 3)
    bad = con.execute("PRAGMA foreign_key_check").fetchall()
    if bad:
        raise sqlite3.IntegrityError(f"foreign_key_check after the rebuild: {bad[:5]}")


def _backfill_lang(con: sqlite3.Connection) -> None:
    """Each indexed document's writing system from its stored passages, as the indexer tells it from the text
    (it drives the notice about a library in a script the model does not read)."""
    todo = con.execute("SELECT id, title FROM documents WHERE status = 'indexed' AND lang IS NULL").fetchall()
    for doc_id, title in todo:
        sample: list[str] = []
        size = 0
        for (text,) in con.execute("SELECT text FROM chunks WHERE document_id = ? ORDER BY ordinal", (doc_id,)):
            sample.append(text)
            size += len(text)
            if size > _LANG_SAMPLE:
                break
        lang = detect("\n".join(sample) or title or "")
        con.execute("UPDATE documents SET lang = ? WHERE id = ?", (lang.value if lang else None, doc_id))


def to_4(con: sqlite3.Connection) -> None:
    """3 -> 4: the re-embed queue, and the embedding recipe in ``meta``.

    The passages whose embedded text the current title rule changes are queued (their
    old vector serves until an index run replaces it). An index that went through
    :func:`to_3` says rule 1; one written as schema 3 is taken to follow today's rule:
    that is every release from b91051d on, and re-embedding is not worth a guess for
    the one before it (70c1ecf .. b91051d, hours on main), whose index is served as
    that release served it.
    """
    con.execute(ddl(CreateTable(schema.reembed, if_not_exists=True)))
    row = con.execute("SELECT value FROM meta WHERE key = ?", (MetaKey.TITLE_RULE,)).fetchone()
    rule = TitleRule(int(row[0])) if row else TITLE_RULE
    manifest = _manifest(con)
    if rule != TITLE_RULE and manifest is not None and manifest.get("title_prefix", True):
        con.create_function("rule_changes_text", 2,
                            lambda title, text: rule_changes_text(title, text, rule, TITLE_RULE), deterministic=True)
        con.execute("""INSERT INTO reembed (chunk_id, reason, state)
                       SELECT c.id, ?, ? FROM chunks c JOIN documents d ON d.id = c.document_id
                       WHERE c.embedding IS NOT NULL AND d.title IS NOT NULL AND d.title != ''
                       AND rule_changes_text(d.title, c.text)""",
                    (ReembedReason.TITLE_RULE, ReembedState.WAITING))
    set_meta(con, MetaKey.TITLE_RULE, str(int(TITLE_RULE)))
    if con.execute("SELECT 1 FROM chunks WHERE embedding IS NOT NULL LIMIT 1").fetchone() is not None:
        # Every release so far embedded with torch; whether in fp32, bf16, fp16 or int8 was not recorded.
        set_meta(con, MetaKey.EMBEDDING_ENGINE, "torch")
        set_meta(con, MetaKey.EMBEDDING_PRECISION, UNKNOWN)
    _set_manifest_version(con, 4)


def to_5(con: sqlite3.Connection) -> None:
    """4 -> 5: the trigram index keeps only passages with CJK text; the vocabulary finds words inside words.

    The trigram index is built again from the passages that have a CJK
    character (none, in a library without them: then this step is quick),
    and the vocabulary from every passage's words. Nothing is re-embedded.
    """
    for trigger in ("chunks_ai", "chunks_ad"):
        con.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    con.execute("DROP TABLE IF EXISTS chunks_tri")
    con.execute(ddl(CreateTable(schema.vocab, if_not_exists=True)))
    for statement in schema.FTS_DDL:
        con.execute(statement)
    con.execute("INSERT INTO chunks_tri(rowid, text) SELECT id, text FROM chunks WHERE has_cjk(text)")
    checkpoint("migrating-trigram")
    last = 0
    while True:
        rows = con.execute("SELECT id, text FROM chunks WHERE id > ? ORDER BY id LIMIT ?", (last, VOCAB_BATCH)).fetchall()
        if not rows:
            break
        con.executemany("INSERT OR IGNORE INTO vocab (word) VALUES (?)",
                        [(w,) for w in sorted(substring_words(text for _, text in rows))])
        last = rows[-1][0]
    con.execute("INSERT INTO vocab_tri (word) SELECT word FROM vocab")
    _set_manifest_version(con, 5)
