"""What the index holds, counted: the library summary (`stats`) and the language notice (`language_counts`)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from desktop_search.language import Lang
from desktop_search.storage.connection import StoreBase
from desktop_search.storage.schema import DocStatus, chunks, documents, missing


class ReportingMixin(StoreBase):
    """Counts over documents and passages; read-only."""

    def stats(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            n_docs = conn.execute(select(func.count()).where(documents.c.status == DocStatus.INDEXED)).scalar_one()
            n_chunks = conn.execute(select(func.count()).select_from(chunks)).scalar_one()
            n_waiting = conn.execute(select(func.count()).where(chunks.c.embedding.is_(None))).scalar_one()
            failed = [
                {"path": r.path, "error": r.error}
                for r in conn.execute(
                    select(documents.c.path, documents.c.error)
                    .where(documents.c.status == DocStatus.FAILED).order_by(documents.c.path)
                )
            ]
            warnings = [
                {"path": r.path, "error": r.error}
                for r in conn.execute(
                    select(documents.c.path, documents.c.error)
                    .where((documents.c.status == DocStatus.INDEXED) & documents.c.error.is_not(None))
                    .order_by(documents.c.path)
                )
            ]
        return {"documents": int(n_docs), "chunks": int(n_chunks), "embedded": int(n_chunks) - int(n_waiting),
                "failed": failed, "warnings": warnings}

    def language_counts(self) -> dict[Lang | None, int]:
        """Indexed documents per main writing system (None: not recorded)."""
        with self.engine.connect() as conn:
            if missing(conn, "documents", "lang"):
                return {}
            rows = conn.execute(
                select(documents.c.lang, func.count()).where(documents.c.status == DocStatus.INDEXED).group_by(documents.c.lang)
            ).all()
        out: dict[Lang | None, int] = {}
        for lang, n in rows:
            try:
                key = Lang(lang) if lang else None
            except ValueError:
                key = None
            out[key] = out.get(key, 0) + int(n)
        return out
