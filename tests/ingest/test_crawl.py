"""Walking library folders: which files count, and no traps."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from desktop_search.ingest.crawl import crawl


def names(root: Path, **kw) -> list[str]:
    return sorted(os.path.relpath(f.path, root) for f in crawl(root, **kw))


def touch(path: Path, data: bytes = b"%PDF-1.4\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_suffixes_match_case_insensitively(tmp_path: Path) -> None:
    for name in ("a.pdf", "b.PDF", "c.Epub", "d.EPUB", "e.txt", "f.pdf.bak", "g"):
        touch(tmp_path / name)
    assert names(tmp_path) == ["a.pdf", "b.PDF", "c.Epub", "d.EPUB"]


def test_size_and_mtime_are_reported(tmp_path: Path) -> None:
    p = touch(tmp_path / "a.pdf", b"x" * 123)
    (found,) = list(crawl(tmp_path))
    assert found.path == str(p)
    assert found.size == 123
    assert found.mtime_ns == p.stat().st_mtime_ns


def test_recurses_into_subfolders(tmp_path: Path) -> None:
    touch(tmp_path / "one" / "two" / "deep.pdf")
    touch(tmp_path / "top.epub")
    assert names(tmp_path) == [os.path.join("one", "two", "deep.pdf"), "top.epub"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifos_and_sockets_are_skipped(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.pdf")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(tmp_path / "sock.pdf"))
        touch(tmp_path / "real.pdf")
        # A FIFO would block a reader forever; crawl must not even open it.
        assert names(tmp_path) == ["real.pdf"]
    finally:
        sock.close()


def test_folder_named_like_a_pdf_is_entered_not_taken(tmp_path: Path) -> None:
    (tmp_path / "x.pdf").mkdir()
    touch(tmp_path / "x.pdf" / "inside.pdf")
    assert names(tmp_path) == [os.path.join("x.pdf", "inside.pdf")]


def test_symlink_loop_terminates_and_files_are_found_once(tmp_path: Path) -> None:
    touch(tmp_path / "a" / "doc.pdf")
    os.symlink(tmp_path, tmp_path / "a" / "loop")  # points back at the root
    os.symlink(tmp_path / "a", tmp_path / "a" / "self")
    found = names(tmp_path)
    assert found == [os.path.join("a", "doc.pdf")]


def test_symlinked_file_is_followed_and_dangling_link_ignored(tmp_path: Path) -> None:
    target = touch(tmp_path / "elsewhere" / "real.pdf")
    lib = tmp_path / "lib"
    lib.mkdir()
    os.symlink(target, lib / "link.pdf")
    os.symlink(tmp_path / "missing.pdf", lib / "dangling.pdf")
    assert names(lib) == ["link.pdf"]


def test_hidden_files_and_folders_are_skipped(tmp_path: Path) -> None:
    touch(tmp_path / ".secret.pdf")
    touch(tmp_path / ".hidden" / "inside.pdf")
    touch(tmp_path / "shown.pdf")
    assert names(tmp_path) == ["shown.pdf"]


def test_include_globs_match_name_or_relative_path(tmp_path: Path) -> None:
    touch(tmp_path / "papers" / "a.pdf")
    touch(tmp_path / "papers" / "b.epub")
    touch(tmp_path / "books" / "c.epub")
    assert names(tmp_path, include=["*.epub"]) == [os.path.join("books", "c.epub"), os.path.join("papers", "b.epub")]
    assert names(tmp_path, include=["papers/*"]) == [os.path.join("papers", "a.pdf"), os.path.join("papers", "b.epub")]


def test_exclude_globs_skip_files_and_whole_folders(tmp_path: Path) -> None:
    touch(tmp_path / "keep" / "a.pdf")
    touch(tmp_path / "drafts" / "b.pdf")
    touch(tmp_path / "keep" / "c-draft.pdf")
    assert names(tmp_path, exclude=["drafts"]) == [os.path.join("keep", "a.pdf"), os.path.join("keep", "c-draft.pdf")]
    assert names(tmp_path, exclude=["*-draft.pdf"]) == [os.path.join("drafts", "b.pdf"), os.path.join("keep", "a.pdf")]


def test_unreadable_folder_is_noted_and_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(tmp_path / "ok.pdf")
    locked = tmp_path / "locked"
    touch(locked / "no.pdf")
    # chmod 000 binds no one when the tests run as root, so the folder's
    # listing is refused the way the OS refuses it to an ordinary user.
    real_scandir = os.scandir

    def scandir(path):
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    errors: list[str] = []
    found = [os.path.basename(f.path) for f in crawl(tmp_path, errors=errors)]
    assert found == ["ok.pdf"]
    assert len(errors) == 1 and "locked" in errors[0] and "Permission denied" in errors[0]


def test_pattern_counts_say_what_each_pattern_excludes(tmp_path):
    from desktop_search.ingest.crawl import pattern_counts

    for rel in ("a.pdf", "drafts/b.pdf", "drafts/c.epub", "notes/old-d.pdf", "e.epub"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    counts = pattern_counts(tmp_path, include=["*.pdf"], exclude=["drafts", "old-*"])
    assert counts.total == 5
    assert counts.excluded_by == {"drafts": 2, "old-*": 1}
    assert counts.matched_by == {"*.pdf": 3}
    # What crawl itself keeps, the counts agree with.
    kept = sorted(os.path.relpath(f.path, tmp_path) for f in crawl(tmp_path, ["*.pdf"], ["drafts", "old-*"]))
    assert kept == ["a.pdf"] and counts.kept == 1
