"""Library folders: the roots the indexer crawls, with their include and exclude globs."""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, delete, func, insert, select, update

from desktop_search.storage.connection import StoreBase, new_id
from desktop_search.storage.documents import drop_documents
from desktop_search.storage.schema import DocStatus, documents, folders


class FoldersMixin(StoreBase):
    """The ``folders`` table; removing a folder removes its documents in the same transaction."""

    def add_folder(self, path: str, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> int:
        with self._write() as conn:
            row = conn.execute(select(folders.c.id).where(folders.c.path == path)).scalar_one_or_none()
            if row is not None:
                conn.execute(
                    update(folders)
                    .where(folders.c.id == row)
                    .values(include=json.dumps(list(include)), exclude=json.dumps(list(exclude)))
                )
                return int(row)
            res = conn.execute(
                insert(folders).values(
                    path=path, include=json.dumps(list(include)), exclude=json.dumps(list(exclude)), added_at=time.time()
                )
            )
            return new_id(res)

    def folders(self) -> list[dict[str, Any]]:
        """Folders with per-folder counts of indexed and failed documents."""
        counts = (
            select(
                documents.c.folder_id,
                func.sum(case((documents.c.status == DocStatus.INDEXED, 1), else_=0)).label("indexed"),
                func.sum(case((documents.c.status == DocStatus.FAILED, 1), else_=0)).label("failed"),
            )
            .group_by(documents.c.folder_id)
            .subquery()
        )
        q = select(folders, counts.c.indexed, counts.c.failed).outerjoin(counts, counts.c.folder_id == folders.c.id)
        with self.engine.connect() as conn:
            return [
                {
                    "id": r.id,
                    "path": r.path,
                    "include": json.loads(r.include),
                    "exclude": json.loads(r.exclude),
                    "indexed": int(r.indexed or 0),
                    "failed": int(r.failed or 0),
                }
                for r in conn.execute(q.order_by(folders.c.path))
            ]

    def remove_folder(self, path: str) -> tuple[int, list[int]]:
        """Drop a folder with its documents: (documents removed, chunk ids deleted)."""
        with self._write() as conn:
            fid = conn.execute(select(folders.c.id).where(folders.c.path == path)).scalar_one_or_none()
            if fid is None:
                return 0, []
            doc_ids = list(conn.execute(select(documents.c.id).where(documents.c.folder_id == fid)).scalars())
            gone = drop_documents(conn, doc_ids)
            conn.execute(delete(folders).where(folders.c.id == fid))
            return len(doc_ids), gone
