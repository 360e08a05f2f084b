"""Opening a passage in the user's own viewer, at its page (PDF) or chapter (EPUB).

The command comes from, in this order: the ``DESKTOP_SEARCH_VIEWER``
environment variable, the viewer template in the settings (both with ``%f``
for the file and ``%p`` for the page), or the system's default application
for the file type, whose page option we know for common viewers. Where the
page cannot be passed, the file is simply opened (``ViewerCommand.at_page``
is False, so the caller can say so).
"""
from __future__ import annotations

import configparser
import logging
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

logger = logging.getLogger(__name__)

ENV_VIEWER = "DESKTOP_SEARCH_VIEWER"
MIME = {"pdf": "application/pdf", "epub": "application/epub+zip"}
BROWSERS = ("firefox", "chromium", "chrome", "msedge", "brave", "vivaldi", "opera")
_FIELD_CODES = {"%f", "%F", "%u", "%U", "%i", "%c", "%k", "@@", "@@u"}


@dataclass(frozen=True)
class Passage:
    """Where to open: the file, and the passage's page (1-based) or chapter."""

    path: str
    page: int | None = None
    page_label: str | None = None
    section: str | None = None

    @property
    def is_epub(self) -> bool:
        return self.path.lower().endswith(".epub")


@dataclass(frozen=True)
class ViewerCommand:
    argv: tuple[str, ...]
    at_page: bool  # the page or chapter is passed to the viewer
    viewer: str  # its name, for messages
    template: bool = False  # the user's command (settings or environment), not a detected viewer


def from_template(template: str, passage: Passage) -> ViewerCommand:
    """A user's command: ``%f`` is the file, ``%p`` the page (1 where the passage has none).

    The template is split like a shell line first, so a path with spaces stays one argument.
    """
    page = str(passage.page or 1)
    argv = tuple(arg.replace("%f", passage.path).replace("%p", page) for arg in shlex.split(template))
    if not any(passage.path in a for a in argv):
        argv += (passage.path,)
    return ViewerCommand(argv, at_page="%p" in template and passage.page is not None, viewer=Path(argv[0]).name,
                         template=True)


def _viewer_name(prefix: Sequence[str]) -> str:
    """The viewer's name as we know it (``org.gnome.Evince`` and ``/usr/bin/evince`` are both evince)."""
    known = ("evince", "atril", "xreader", "okular", "zathura", "qpdfview", "mupdf", "sumatrapdf", "acrord32",
             "acrobat", "ebook-viewer", *BROWSERS)
    for token in reversed(prefix):
        low = Path(token).name.lower()
        for name in known:
            if name in low:
                return name
    return Path(prefix[0]).name if prefix else "?"


def from_default(prefix: Sequence[str], passage: Passage) -> ViewerCommand:
    """``prefix`` (the default application's command, field codes removed) with the page option it knows."""
    name = _viewer_name(prefix)
    base, path, page = tuple(prefix), passage.path, passage.page
    if passage.is_epub:
        if name == "ebook-viewer" and passage.section:
            return ViewerCommand(base + (f"--open-at=toc:{passage.section}", path), True, name)
        return ViewerCommand(base + (path,), False, name)
    if page is None:
        return ViewerCommand(base + (path,), False, name)
    label = passage.page_label or str(page)
    args: tuple[str, ...] | None = {
        "evince": ("-p", label, path),  # -p is --page-label
        "atril": ("-p", label, path),
        "xreader": ("-p", label, path),
        "okular": ("-p", str(page), path),
        "zathura": ("-P", str(page), path),
        "qpdfview": (f"{path}#{page}",),
        "mupdf": (path, str(page)),
        "sumatrapdf": ("-page", str(page), path),
        "acrord32": ("/A", f"page={page}", path),
        "acrobat": ("/A", f"page={page}", path),
    }.get(name)
    if args is None and name in BROWSERS:
        args = (Path(path).as_uri() + f"#page={page}",)
    if args is None:
        return ViewerCommand(base + (path,), False, name)
    return ViewerCommand(base + args, True, name)


def plain_open(path: str) -> ViewerCommand:
    """The platform's own "open this file" command."""
    if sys.platform == "darwin":
        return ViewerCommand(("open", path), False, "open")
    if os.name == "nt":
        return ViewerCommand(("cmd", "/c", "start", "", path), False, "start")
    return ViewerCommand(("xdg-open", path), False, "xdg-open")


def exec_prefix(exec_line: str) -> list[str]:
    """A .desktop ``Exec=`` line without its field codes (``%U``, ``%f``…)."""
    try:
        tokens = shlex.split(exec_line)
    except ValueError:
        return []
    return [t for t in tokens if t not in _FIELD_CODES and not (t.startswith("%") and len(t) == 2)]


def _desktop_dirs(env: Mapping[str, str]) -> list[Path]:
    data_home = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    dirs = [data_home, *(env.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":"),
            str(Path.home() / ".local/share/flatpak/exports/share"), "/var/lib/flatpak/exports/share"]
    return [Path(d) / "applications" for d in dirs if d]


@lru_cache(maxsize=8)
def _linux_default(mime: str) -> tuple[str, ...]:
    """The default application's command for ``mime`` (xdg-mime), or () if none is known."""
    try:
        desktop = subprocess.run(["xdg-mime", "query", "default", mime], capture_output=True, text=True,
                                 timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        logger.info("xdg-mime is not usable (%s); files open with xdg-open", exc)
        return ()
    if not desktop:
        return ()
    for folder in _desktop_dirs(os.environ):
        # "kde4-okularApplication_pdf.desktop" lives in applications/kde4/okularApplication_pdf.desktop
        for candidate in (folder / desktop, folder / desktop.replace("-", "/", 1)):
            if candidate.is_file():
                parser = configparser.ConfigParser(interpolation=None, strict=False)
                try:
                    parser.read(candidate, encoding="utf-8")
                    return tuple(exec_prefix(parser.get("Desktop Entry", "Exec", fallback="")))
                except (configparser.Error, OSError, UnicodeDecodeError) as exc:
                    logger.info("Cannot read %s: %s", candidate, exc)
    return ()


def _windows_default(ext: str) -> tuple[str, ...]:
    """The ``open`` command registered for ``ext`` on Windows, or ()."""
    if sys.platform != "win32":  # winreg exists on Windows only
        return ()
    try:
        import winreg

        progid = winreg.QueryValue(winreg.HKEY_CLASSES_ROOT, ext)
        command = winreg.QueryValue(winreg.HKEY_CLASSES_ROOT, rf"{progid}\shell\open\command")
    except (ImportError, OSError):
        return ()
    tokens = shlex.split(command, posix=False)
    return tuple(t.strip('"') for t in tokens if "%1" not in t and t != '"%1"')


def default_prefix(passage: Passage) -> tuple[str, ...]:
    """The system's default viewer for the passage's file type, as a command prefix."""
    kind = "epub" if passage.is_epub else "pdf"
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        prefix = _linux_default(MIME[kind])
    elif os.name == "nt":
        prefix = _windows_default("." + kind)
    else:
        prefix = ()  # macOS: `open` (Preview cannot be told a page)
    if not prefix and kind == "epub" and shutil.which("ebook-viewer"):
        prefix = ("ebook-viewer", "--detach")
    return prefix


def viewer_command(passage: Passage, template: str | None = None, env: Mapping[str, str] | None = None) -> ViewerCommand:
    """How to open ``passage``: the environment's template, the settings', or the default viewer."""
    env = os.environ if env is None else env
    chosen = env.get(ENV_VIEWER) or template
    if chosen and chosen.strip():
        return from_template(chosen, passage)
    prefix = default_prefix(passage)
    if prefix:
        return from_default(prefix, passage)
    return plain_open(passage.path)


def launch(command: ViewerCommand) -> bool:
    """Start the viewer, detached from us; False (logged) if it cannot start."""
    logger.info("Opening with %s", shlex.join(command.argv))
    try:
        subprocess.Popen(list(command.argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    except OSError as exc:
        logger.warning("Cannot start %s: %s", command.argv[0], exc)
        return False
    return True
