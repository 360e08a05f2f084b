"""What the library holds: folders with their counts, documents, passages, failures.

Built in one place for `status`, the window's library panel and its status bar.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from desktop_search.paths import DataPaths


@dataclass(frozen=True)
class FileProblem:
    """A file that failed, or was only partly read, and why."""

    path: str
    error: str | None


@dataclass(frozen=True)
class FolderInfo:
    """A library folder, its include/exclude patterns and its counts."""

    path: str
    indexed: int = 0
    failed: int = 0
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class LibraryInfo:
    documents: int = 0  # documents whose text is committed (keyword-searchable)
    chunks: int = 0
    embedded: int = 0  # passages that have their vector; fewer than ``chunks`` while an index run embeds
    failed: tuple[FileProblem, ...] = ()
    warnings: tuple[FileProblem, ...] = ()
    folders: tuple[FolderInfo, ...] = ()
    model: str | None = None
    manifest: dict[str, Any] | None = field(default=None, compare=False)
    # What made the vectors, as the index records it: "onnx", "torch" or both ("onnx,torch"); "fp32", "int8", ...
    embedding_engine: str | None = None
    embedding_precision: str | None = None
    topk_index: str = "none"  # storage.topk_index.TopKState: none, current or behind

    def to_json(self) -> dict[str, Any]:
        """The `status --json` object (its keys are a contract)."""
        data = asdict(self)
        data["folders"] = [dict(f, include=list(f["include"]), exclude=list(f["exclude"])) for f in data["folders"]]
        data["failed"], data["warnings"] = list(data["failed"]), list(data["warnings"])
        return data


def read_library_info(paths: DataPaths) -> LibraryInfo:
    """The library as the index records it; an empty one before anything is indexed."""
    if not paths.database.exists():
        return LibraryInfo()
    from desktop_search.storage import Store  # SQLAlchemy: not before it is needed
    from desktop_search.storage.schema import MetaKey
    from desktop_search.storage.topk_index import topk_state

    with Store(paths.database, readonly=True) as store:
        stats, manifest = store.stats(), store.manifest()
        topk = topk_state(paths, store)
        engine, precision = store.get_meta(MetaKey.EMBEDDING_ENGINE), store.get_meta(MetaKey.EMBEDDING_PRECISION)
        folders = tuple(
            FolderInfo(path=f["path"], indexed=f["indexed"], failed=f["failed"], include=tuple(f["include"]),
                       exclude=tuple(f["exclude"]))
            for f in store.folders()
        )
    return LibraryInfo(
        documents=stats["documents"], chunks=stats["chunks"], embedded=stats["embedded"],
        failed=tuple(FileProblem(**f) for f in stats["failed"]),
        warnings=tuple(FileProblem(**w) for w in stats["warnings"]),
        folders=folders, model=manifest.model_id if manifest else None,
        manifest=manifest.__dict__ if manifest else None, embedding_engine=engine, embedding_precision=precision,
        topk_index=topk.value,
    )
