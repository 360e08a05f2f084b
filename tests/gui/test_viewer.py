"""Building the command that opens a passage at its page (no viewer is started)."""
from __future__ import annotations

import sys

import pytest

from desktop_search.gui import viewer
from desktop_search.gui.viewer import Passage, exec_prefix, from_default, from_template, viewer_command

PDF = Passage("/papers/my paper.pdf", page=57, page_label=None)


@pytest.mark.parametrize("prefix, argv", [
    (["evince"], ["evince", "-p", "57", PDF.path]),
    (["/usr/bin/atril"], ["/usr/bin/atril", "-p", "57", PDF.path]),
    (["xreader"], ["xreader", "-p", "57", PDF.path]),
    (["okular"], ["okular", "-p", "57", PDF.path]),
    (["zathura"], ["zathura", "-P", "57", PDF.path]),
    (["qpdfview", "--unique"], ["qpdfview", "--unique", f"{PDF.path}#57"]),
    (["mupdf"], ["mupdf", PDF.path, "57"]),
    ([r"C:\\Tools\\SumatraPDF.exe"], [r"C:\\Tools\\SumatraPDF.exe", "-page", "57", PDF.path]),
    (["AcroRd32.exe"], ["AcroRd32.exe", "/A", "page=57", PDF.path]),
    (["firefox"], ["firefox", "file:///papers/my%20paper.pdf#page=57"]),
    (["flatpak", "run", "org.gnome.Evince"], ["flatpak", "run", "org.gnome.Evince", "-p", "57", PDF.path]),
])
def test_known_viewers_get_the_page(prefix, argv):
    command = from_default(prefix, PDF)
    assert list(command.argv) == argv and command.at_page


def test_evince_gets_the_page_label_when_the_pdf_has_one():
    command = from_default(["evince"], Passage("/b.pdf", page=12, page_label="xii"))
    assert command.argv == ("evince", "-p", "xii", "/b.pdf")


def test_unknown_viewer_or_no_page_is_a_plain_open():
    assert from_default(["someviewer"], PDF).argv == ("someviewer", PDF.path)
    assert not from_default(["someviewer"], PDF).at_page
    assert not from_default(["evince"], Passage("/b.pdf")).at_page


def test_epub_opens_at_the_chapter_in_calibre_only():
    book = Passage("/books/alice.epub", section="Pig and Pepper")
    command = from_default(["ebook-viewer", "--detach"], book)
    assert command.argv == ("ebook-viewer", "--detach", "--open-at=toc:Pig and Pepper", book.path) and command.at_page
    assert from_default(["foliate"], book).argv == ("foliate", book.path)
    assert not from_default(["foliate"], book).at_page


def test_template_substitutes_file_and_page_keeping_spaces_in_one_argument():
    command = from_template("okular --page %p %f", PDF)
    assert command.argv == ("okular", "--page", "57", PDF.path) and command.at_page
    assert from_template("myviewer", PDF).argv == ("myviewer", PDF.path)  # no %f: the file goes last
    assert not from_template("myviewer %f", PDF).at_page
    assert from_template("'/opt/my viewer/run' %f#%p", PDF).argv == ("/opt/my viewer/run", f"{PDF.path}#57")
    assert from_template("v %p %f", Passage("/b.epub", section="One")).argv == ("v", "1", "/b.epub")


def test_environment_wins_over_settings_and_settings_over_detection(monkeypatch):
    monkeypatch.setattr(viewer, "default_prefix", lambda _p: ("evince",))
    assert viewer_command(PDF, "okular -p %p %f", env={"DESKTOP_SEARCH_VIEWER": "zathura -P %p %f"}).argv[0] == "zathura"
    assert viewer_command(PDF, "okular -p %p %f", env={}).argv[0] == "okular"
    assert viewer_command(PDF, "", env={}).argv == ("evince", "-p", "57", PDF.path)
    monkeypatch.setattr(viewer, "default_prefix", lambda _p: ())
    plain = viewer_command(PDF, None, env={})
    assert not plain.at_page and plain.argv[-1] == PDF.path


def test_exec_lines_lose_their_field_codes():
    assert exec_prefix("evince %U") == ["evince"]
    assert exec_prefix("okular --icon okular -caption %c %U") == ["okular", "--icon", "okular", "-caption"]
    assert exec_prefix('"unterminated') == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xdg-mime and .desktop files are Linux's")
def test_the_default_pdf_viewer_is_read_from_its_desktop_file(tmp_path, monkeypatch):
    apps = tmp_path / "share" / "applications"
    apps.mkdir(parents=True)
    (apps / "org.gnome.Evince.desktop").write_text("[Desktop Entry]\nName=Evince\nExec=evince %U\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    xdg_mime = bin_dir / "xdg-mime"
    xdg_mime.write_text("#!/bin/sh\necho org.gnome.Evince.desktop\n")
    xdg_mime.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    viewer._linux_default.cache_clear()
    try:
        assert viewer_command(PDF, None, env={}).argv == ("evince", "-p", "57", PDF.path)
    finally:
        viewer._linux_default.cache_clear()
