"""plan_run on its own: the crawl sorted against the store, with no model and nothing read but hashes."""
from __future__ import annotations

import os
from pathlib import Path

from desktop_search.failures import FailureCode
from desktop_search.index.plan import plan_run
from desktop_search.ingest.pool import hash_file
from desktop_search.storage import Manifest, Store
from desktop_search.storage.records import DocumentRecord
from desktop_search.storage.schema import DocStatus
from tests.conftest import make_pdf

MANIFEST = Manifest(model_id="tiny", dim=8, pooling="mean", max_tokens=128, overlap_tokens=16, title_prefix=True)


def known(path: Path, folder_id: int, like: Path | None = None, status: DocStatus = DocStatus.INDEXED,
          **kw: object) -> DocumentRecord:
    """A stored document at ``path`` whose size, mtime and hash are those of ``like`` (by default, the file itself)."""
    real = like or path
    st = real.stat()
    fields: dict = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "hash": hash_file(str(real)), **kw}
    return DocumentRecord(path=str(path), folder_id=folder_id, kind="pdf", title=None, author=None, status=status,
                          **fields)


def test_the_plan_sorts_every_file_and_changes_nothing(data_dir, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("new", "same", "touched", "edited", "moved-here", "failed"):
        make_pdf(lib / f"{name}.pdf", [f"The {name} file."])
    with Store(data_dir.database) as store:
        store.check_manifest(MANIFEST)
        fid = store.add_folder(str(lib))
        unplugged = store.add_folder(str(tmp_path / "unplugged"))
        store.commit_documents([
            known(lib / "same.pdf", fid),
            known(lib / "touched.pdf", fid, mtime_ns=1),  # same content, another mtime
            known(lib / "edited.pdf", fid, mtime_ns=1, hash="older content"),
            known(lib / "old-place.pdf", fid, like=lib / "moved-here.pdf"),
            known(lib / "deleted.pdf", fid, like=lib / "same.pdf", hash="gone"),
            known(lib / "failed.pdf", fid, status=DocStatus.FAILED, failure=FailureCode.TIMEOUT),
            known(tmp_path / "unplugged" / "kept.pdf", unplugged, like=lib / "same.pdf"),
        ])
        before = store.known_documents()
        plan = plan_run(store)
        assert store.known_documents() == before

    by_path = {os.path.basename(p) for p, _ in plan.todo}
    assert by_path == {"new.pdf", "edited.pdf", "failed.pdf"} and {f for _, f in plan.todo} == {fid}
    assert {os.path.basename(p) for p in plan.replacing} == {"edited.pdf", "failed.pdf"}
    assert plan.retries == {str(lib / "failed.pdf"): 2}
    assert [(k.path, size) for k, size, _ in plan.touches] == [(str(lib / "touched.pdf"), (lib / "touched.pdf").stat().st_size)]
    assert [(k.path, path, folder) for k, path, folder, _, _ in plan.moves] == [
        (str(lib / "old-place.pdf"), str(lib / "moved-here.pdf"), fid)]
    assert [k.path for k in plan.deletes] == [str(lib / "deleted.pdf")]  # not the unplugged folder's document
    assert plan.unchanged == 1 and plan.skipped_folders == [str(tmp_path / "unplugged")]
