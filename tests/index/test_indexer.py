"""Indexing runs: new, changed, deleted, moved and touched files, failures, rebuilds."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from desktop_search.embed.embedder import Embedder
from desktop_search.embed.models import spec_from_folder
from desktop_search.errors import IndexMismatchError
from desktop_search.index.indexer import Indexer, IndexOptions
from desktop_search.ingest.chunking import ChunkSettings
from desktop_search.storage import Store, VectorIndex, topk_index
from desktop_search.storage.topk_index import TopKReader
from tests.conftest import make_epub, make_pdf


class CountingEmbedder:
    """The real tiny embedder, counting the passages it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.passages = 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def encode_passages(self, texts, ids=None):
        self.passages += len(texts)
        return self.inner.encode_passages(texts, ids)


@pytest.fixture(scope="module")
def tiny_embedder(tiny_model: Path) -> Embedder:
    return Embedder(spec_from_folder(tiny_model), device="cpu")


@pytest.fixture
def library(tmp_path: Path) -> Path:
    lib = tmp_path / "library"
    (lib / "sub").mkdir(parents=True)
    make_pdf(lib / "statins.pdf", ["Statins lower cholesterol.", "Muscle pain is a side effect of statins."],
             title="Statins Review")
    make_pdf(lib / "sub" / "sleep.pdf", ["Sleep deprivation impairs memory consolidation."])
    make_epub(lib / "fruit.epub", [("Apples", "Apples grow on trees."), ("Pears", "Pears are sweet.")])
    return lib


class Run:
    """Runs the indexer over the library, recording progress phases and embeddings."""

    def __init__(self, data_dir, tiny_model: Path, tiny_embedder: Embedder) -> None:
        self.paths = data_dir
        self.options = IndexOptions(model=str(tiny_model), device="cpu", workers=1,
                                    chunking=ChunkSettings(max_tokens=64, overlap_tokens=8))
        self.tiny_embedder = tiny_embedder
        self.phases: list[str] = []
        self.embedded = 0

    def __call__(self, *add: Path, load_model: bool = False, **kw):
        counting = None if load_model else CountingEmbedder(self.tiny_embedder)
        indexer = Indexer(self.paths, self.options, embedder=counting, on_progress=lambda p: self.phases.append(p.phase))
        self.phases.clear()
        report = indexer.run(list(add), **kw)
        self.embedded = counting.passages if counting else -1
        return report

    def store(self) -> Store:
        return Store(self.paths.database, readonly=True)

    def chunk_ids(self, path: Path) -> list[int]:
        with self.store() as s:
            doc = s.known_documents()[str(path)]
            return sorted(int(c["id"]) for c in s.fetch_chunks(range(1, s.max_chunk_id() + 1)).values()
                          if c["document_id"] == doc.id)

    def consistent(self) -> int:
        """Live vectors equal chunk rows; returns the count."""
        with Store(self.paths.database) as s:
            assert VectorIndex.open(self.paths, s, 32, writable=False).live_count == s.chunk_count()
            return s.chunk_count()


@pytest.fixture
def run(data_dir, tiny_model: Path, tiny_embedder: Embedder) -> Run:
    return Run(data_dir, tiny_model, tiny_embedder)


def test_new_files_are_indexed_with_locations(run: Run, library: Path) -> None:
    report = run(library)
    assert (report.added, report.failed, report.deleted) == (3, [], 0)
    assert report.chunks == run.embedded > 0
    with run.store() as s:
        rows = list(s.fetch_chunks(range(1, s.max_chunk_id() + 1)).values())
        assert s.stats()["documents"] == 3
        assert all(r["page"] is not None or r["section"] for r in rows)
        pages = {(r["path"].rsplit("/", 1)[-1], r["page"]) for r in rows if r["kind"] == "pdf"}
        assert {("statins.pdf", 1), ("statins.pdf", 2), ("sleep.pdf", 1)} <= pages
        assert {r["section"] for r in rows if r["kind"] == "epub"} >= {"Apples", "Pears"}
        assert {r["title"] for r in rows} >= {"Statins Review", "Test Book", "sleep"}
    assert run.consistent() == report.chunks


def test_unchanged_rescan_embeds_nothing_and_does_not_load_the_model(run: Run, library: Path) -> None:
    run(library)
    report = run(load_model=True)  # a real model load would show up as a phase
    assert (report.added, report.updated, report.deleted, report.moved, report.unchanged) == (0, 0, 0, 0, 3)
    assert report.chunks == 0
    assert "loading model" not in run.phases


def test_touched_file_with_same_content_is_not_re_embedded(run: Run, library: Path) -> None:
    run(library)
    target = library / "statins.pdf"
    before = run.chunk_ids(target)
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    report = run(load_model=True)
    assert (report.updated, report.unchanged, report.chunks) == (0, 3, 0)
    assert "loading model" not in run.phases
    assert run.chunk_ids(target) == before
    with run.store() as s:
        assert s.known_documents()[str(target)].mtime_ns == target.stat().st_mtime_ns
    # The new mtime is recorded, so the next scan does not even hash it.
    assert run().unchanged == 3


def test_changed_file_is_re_embedded_and_old_chunks_disappear(run: Run, library: Path) -> None:
    run(library)
    target = library / "sub" / "sleep.pdf"
    before = run.chunk_ids(target)
    make_pdf(target, ["Completely new text about coffee and alertness."])
    report = run()
    assert (report.updated, report.added, report.unchanged) == (1, 0, 2)
    assert run.embedded == report.chunks > 0
    after = run.chunk_ids(target)
    assert not set(after) & set(before)
    with run.store() as s:
        texts = [r["text"] for r in s.fetch_chunks(after).values()]
        assert any("coffee" in t for t in texts)
        assert s.fetch_chunks(before) == {}
    run.consistent()


def test_deleted_file_is_removed_with_its_vectors(run: Run, library: Path) -> None:
    first = run(library)
    gone = run.chunk_ids(library / "statins.pdf")
    (library / "statins.pdf").unlink()
    report = run()
    assert (report.deleted, report.unchanged) == (1, 2)
    assert run.consistent() == first.chunks - len(gone)
    with run.store() as s:
        assert str(library / "statins.pdf") not in s.known_documents()


def test_moved_file_keeps_its_chunk_ids_and_is_not_re_embedded(run: Run, library: Path) -> None:
    run(library)
    old = library / "statins.pdf"
    ids = run.chunk_ids(old)
    new = library / "sub" / "renamed statins.pdf"
    shutil.move(old, new)
    report = run(load_model=True)
    assert (report.moved, report.added, report.deleted, report.chunks) == (1, 0, 0, 0)
    assert "loading model" not in run.phases
    assert run.chunk_ids(new) == ids
    run.consistent()


def test_copy_is_a_new_document_not_a_move(run: Run, library: Path) -> None:
    run(library)
    shutil.copy(library / "statins.pdf", library / "copy.pdf")
    report = run()
    assert (report.added, report.moved) == (1, 0)


def test_failed_files_are_listed_and_the_run_completes(run: Run, library: Path) -> None:
    (library / "broken.pdf").write_bytes(b"not a pdf at all" * 50)
    (library / "empty.epub").write_bytes(b"")
    report = run(library)
    assert report.added == 3
    assert sorted((Path(p).name, e) for p, e in report.failed) == [
        ("broken.pdf", "not a valid PDF (damaged or wrong extension)"),
        ("empty.epub", "empty file"),
    ]
    with run.store() as s:
        assert {Path(f["path"]).name for f in s.stats()["failed"]} == {"broken.pdf", "empty.epub"}
    # A failed file is retried only when it changes.
    assert run().unchanged == 5


def test_include_and_exclude_apply_to_later_scans(run: Run, library: Path) -> None:
    report = run(library, exclude=["sub"])
    assert report.added == 2
    make_pdf(library / "sub" / "later.pdf", ["added later"])
    assert run().added == 0


def test_other_settings_are_refused_until_rebuild(run: Run, library: Path) -> None:
    run(library)
    run.options.chunking = ChunkSettings(max_tokens=32, overlap_tokens=0)
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        run()
    report = run(rebuild=True)
    assert report.added == 3  # the folders were kept
    with run.store() as s:
        assert (manifest := s.manifest()) is not None and manifest.max_tokens == 32
    run.consistent()


def test_unavailable_folder_keeps_its_documents(run: Run, library: Path, tmp_path: Path) -> None:
    run(library)
    library.rename(tmp_path / "unplugged")
    report = run()
    assert report.deleted == 0 and report.skipped_folders == [str(library)]
    with run.store() as s:
        assert s.stats()["documents"] == 3


def test_cancel_keeps_committed_work_and_the_next_run_finishes(run: Run, library: Path) -> None:
    for i in range(6):
        make_pdf(library / f"extra{i}.pdf", [f"extra document number {i}"])
    run.options.flush_interval_s = 0  # commit after every file
    indexer = Indexer(run.paths, run.options, embedder=CountingEmbedder(run.tiny_embedder))
    indexer.cancel.set()  # stop after the first file
    first = indexer.run([library])
    assert first.cancelled and 1 <= first.added < 9
    second = run()
    assert first.added + second.added == 9
    run.consistent()


def test_transient_failure_is_retried_a_few_times_then_left(tiny_model, data_dir, tmp_path):
    """A file that timed out (a busy machine) is read again by later runs, but not forever.

    The decision reads the stored failure code, never the message's wording.
    """
    from sqlalchemy import update

    from desktop_search.index.indexer import Indexer, IndexOptions
    from desktop_search.ingest.retry import MAX_ATTEMPTS
    from desktop_search.storage import Store
    from desktop_search.storage.schema import documents
    from tests.conftest import make_pdf

    lib = tmp_path / "lib"
    lib.mkdir()
    make_pdf(lib / "a.pdf", ["Statins and muscle pain."])
    indexer = Indexer(data_dir, IndexOptions(model=str(tiny_model)))
    indexer.run([lib])
    with Store(data_dir.database) as store:
        # Pretend the first read timed out under load.
        with store.engine.begin() as conn:
            conn.execute(update(documents).values(status="failed", error="took too long", failure="timeout"))
        report = indexer.run()
        assert (report.updated, report.failed) == (1, [])
        assert store.stats()["documents"] == 1

        # A failure that keeps recurring stops being retried after MAX_ATTEMPTS.
        with store.engine.begin() as conn:
            conn.execute(update(documents).values(status="failed", error="timed out: x", failure="timeout",
                                                  attempts=MAX_ATTEMPTS))
        report = indexer.run()
        assert (report.updated, report.unchanged) == (0, 1)

        # A permanent failure (a password) is not retried while the file is unchanged,
        # whatever its message says.
        with store.engine.begin() as conn:
            conn.execute(update(documents).values(status="failed", error="timed out: needs a password",
                                                  failure="unreadable", attempts=1))
        assert indexer.run().unchanged == 1


def test_rebuild_with_a_missing_model_keeps_the_index(tiny_model, data_dir, tmp_path):
    """--rebuild names a model that is not there: refused before anything is deleted."""
    from desktop_search.errors import ModelNotFoundError
    from desktop_search.index.indexer import Indexer, IndexOptions
    from desktop_search.storage import Store
    from tests.conftest import make_pdf

    lib = tmp_path / "lib"
    lib.mkdir()
    make_pdf(lib / "a.pdf", ["Statins and muscle pain."])
    Indexer(data_dir, IndexOptions(model=str(tiny_model))).run([lib])
    with pytest.raises(ModelNotFoundError):
        Indexer(data_dir, IndexOptions(model=str(tmp_path / "no-such-model"))).run(rebuild=True)
    with Store(data_dir.database, readonly=True) as store:
        assert store.stats()["documents"] == 1


def test_a_folder_named_two_ways_is_one_library_folder(tiny_model, data_dir, tmp_path, monkeypatch):
    """`index ../lib` and `index /abs/lib` are the same folder: no duplicate documents."""
    from desktop_search.index.folders import remove_folder
    from desktop_search.index.indexer import Indexer, IndexOptions
    from desktop_search.storage import Store
    from tests.conftest import make_pdf

    lib = tmp_path / "lib"
    lib.mkdir()
    make_pdf(lib / "a.pdf", ["Statins and muscle pain."])
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    indexer = Indexer(data_dir, IndexOptions(model=str(tiny_model)))
    indexer.run(["../lib"])
    indexer.run([str(lib)])
    with Store(data_dir.database, readonly=True) as store:
        assert [f["path"] for f in store.folders()] == [str(lib)]
        assert store.stats()["documents"] == 1
    assert remove_folder(data_dir, "../lib") == 1


def test_a_big_library_gets_a_topk_index_that_each_run_keeps_current(
        run: Run, library: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topk_index, "TOPK_FROM", 1)  # every library counts as big
    run(library)
    with run.store() as s:
        words = TopKReader(run.paths).current(s)
        assert words is not None and words.state.rows == s.chunk_count()
        assert {s.fetch_chunks([cid])[cid]["path"] for cid, _ in words.search(["cholesterol"], 10) or []} == {
            str(library / "statins.pdf")}
    make_pdf(library / "sub" / "sleep.pdf", ["Completely new text about coffee and alertness."])
    run()
    with run.store() as s:
        words = TopKReader(run.paths).current(s)
        assert words is not None and words.state.rows == s.chunk_count()
        assert [s.fetch_chunks([cid])[cid]["path"] for cid, _ in words.search(["coffee"], 10) or []] == [
            str(library / "sub" / "sleep.pdf")]
        assert words.search(["deprivation"], 10) == []
    monkeypatch.setattr(topk_index, "TOPK_FROM", 10_000)  # the library is small again: FTS5 alone
    run()
    assert not run.paths.topk.exists()
