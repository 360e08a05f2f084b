"""Keyword search over the full-text tables the chunk triggers keep in step.

Three FTS5 tables over the passages (see ``schema.FTS_DDL``): ``chunks_fts``
for stemmed words, ``chunks_tri`` for substrings of CJK text without spaces,
and ``chunks_cjk`` for one- and two-character CJK words; all rank by bm25.
A fourth, ``vocab_tri``, finds the words that hold a piece of a word.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from desktop_search.storage.connection import StoreBase
from desktop_search.storage.schema import missing

logger = logging.getLogger(__name__)


class KeywordIndexMixin(StoreBase):
    """bm25 and substring lookups; each returns chunk ids, best first."""

    def keyword_search(self, match: str, limit: int, trigram: bool = False, table: str | None = None) -> list[tuple[int, float]]:
        """FTS5 bm25 search; returns (chunk id, score) with higher = better."""
        table = table or ("chunks_tri" if trigram else "chunks_fts")
        sql = text(f"SELECT rowid, bm25({table}) AS s FROM {table} WHERE {table} MATCH :q ORDER BY s LIMIT :n")
        with self.engine.connect() as conn:
            try:
                rows = conn.execute(sql, {"q": match, "n": limit}).all()
            except OperationalError as exc:  # malformed MATCH expression
                logger.debug("FTS query %r failed: %s", match, exc)
                return []
        return [(int(r[0]), -float(r[1])) for r in rows]

    def indexed_rows(self) -> int:
        """How many passages the word index holds, without counting them (50-100 ms at a million).

        FTS5 keeps the count as the first varint of its averages record (row 1
        of the ``_data`` table; fts5_index.c: "the averages record"); a count
        is the fallback should that ever not parse.
        """
        with self.engine.connect() as conn:
            block = conn.exec_driver_sql("SELECT block FROM chunks_fts_data WHERE id = 1").scalar()
            if isinstance(block, bytes) and block:
                rows = _varint(block)
                if rows is not None:
                    return rows
            return int(conn.exec_driver_sql("SELECT count(*) FROM chunks").scalar_one())

    def words_containing(self, match: str, limit: int) -> list[str]:
        """Up to ``limit`` words of the vocabulary that ``match`` (a quoted piece of a word, 3 characters or
        more) finds in the vocabulary's trigram index, shortest first."""
        sql = text("SELECT word FROM vocab_tri WHERE vocab_tri MATCH :q ORDER BY length(word), word LIMIT :n")
        with self.engine.connect() as conn:
            try:
                return [str(r[0]) for r in conn.execute(sql, {"q": match, "n": limit})]
            except OperationalError as exc:  # malformed MATCH expression
                logger.debug("vocabulary lookup %r failed: %s", match, exc)
                return []

    def substring_search(self, terms: Sequence[str], limit: int) -> list[tuple[int, int]]:
        """(chunk id, how many of ``terms`` it contains), most first.

        A full scan, for the one- and two-character CJK words that the
        trigram index cannot match.
        """
        if not terms:
            return []
        found = " + ".join(f"(instr(text, :t{i}) > 0)" for i in range(len(terms)))
        sql = text(f"SELECT id, {found} AS n FROM chunks WHERE n > 0 ORDER BY n DESC, id LIMIT :limit")
        params: dict[str, Any] = {f"t{i}": t for i, t in enumerate(terms)}
        params["limit"] = limit
        with self.engine.connect() as conn:
            return [(int(r[0]), int(r[1])) for r in conn.execute(sql, params)]

    def gram_search(self, terms: Sequence[str], limit: int) -> list[tuple[int, float]]:
        """Passages holding any of these one- or two-character CJK words, bm25-ranked.

        An index lookup in the n-gram index; an index opened read-only before
        that index existed falls back to a scan.
        """
        if not terms:
            return []
        with self.engine.connect() as conn:
            has_index = not missing(conn, "chunks_cjk")
        if not has_index:
            return [(cid, float(n)) for cid, n in self.substring_search(terms, limit)]
        return self.keyword_search(" OR ".join('"' + t.lower() + '"' for t in terms), limit, table="chunks_cjk")


def _varint(data: bytes) -> int | None:
    """SQLite's varint at the start of ``data`` (big-endian groups of seven bits; the ninth byte gives eight)."""
    value = 0
    for i, byte in enumerate(data[:9]):
        if i == 8:
            return (value << 8) | byte
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value
    return None
