"""GUI entry point: ``desktop-search`` with no command, or ``desktop-search-gui``.

Start-up is kept light on purpose: only Qt and a few small modules load
before the window shows; the index, the model and torch load afterwards in
worker threads.

With ``DESKTOP_SEARCH_STARTUP_PROBE=1`` the CLI prints one JSON line when the
window is first exposed (wall-clock time, and whether torch was loaded by
then) and the app quits; ``benchmarks/bench_startup.py`` and a test use it.
With ``DESKTOP_SEARCH_PROBE_QUERY`` as well, the window then searches for that
query, as if typed, and prints a second line when the first answer is shown:
how long a big library keeps the user waiting (``benchmarks/bench_scale.py``).
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from desktop_search.paths import DataPaths
from desktop_search.settings import Settings

if TYPE_CHECKING:  # Qt is imported when the window opens, not with the CLI
    from PySide6.QtGui import QIcon

logger = logging.getLogger(__name__)

APP_ID = "desktop-search"
PROBE_ENV = "DESKTOP_SEARCH_STARTUP_PROBE"
PROBE_QUERY_ENV = "DESKTOP_SEARCH_PROBE_QUERY"
_HERE = Path(__file__).resolve().parent
# Shipped inside the package, so an installed app finds its icon; the source
# tree's resources/ folder holds the same files for the .desktop entry.
ICON_CANDIDATES = (_HERE / "icons" / "desktop-search.svg", _HERE / "icons" / "desktop-search.png",
                   _HERE.parents[1] / "resources" / "desktop-search.png")


def app_icon() -> QIcon:
    from PySide6.QtGui import QIcon

    for path in ICON_CANDIDATES:
        if path.is_file():
            icon = QIcon(str(path))
            if not icon.isNull():
                return icon
    return QIcon.fromTheme(APP_ID)


def _setup_logging(paths: DataPaths) -> None:
    """Warnings to stderr; everything from INFO, tracebacks included, to the log file."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(console)
    try:
        handler = logging.FileHandler(paths.log, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
        root.addHandler(handler)
    except OSError as exc:
        logger.warning("Cannot write the log file %s: %s", paths.log, exc)
    # Per-file warnings are recorded in the index and shown in "Failed files".
    for name in ("desktop_search.index.indexer", "desktop_search.index.folders"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _log_uncaught(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """A bug in a slot must not take the window down: log it and carry on."""
    logger.critical("Unexpected error (this is a bug; please report it)", exc_info=(exc_type, exc, tb))


@dataclass(frozen=True)
class StartupProbe:
    """What :func:`main` reports for the start-up probe, after which the app quits.

    ``shown`` is called once the window is first exposed; with a ``query``,
    the window then searches for it and ``answered`` gets the first answer's
    document count and whether the query model had loaded by then.
    """

    shown: Callable[[], None]
    query: str | None = None
    answered: Callable[[int, bool], None] | None = None


def main(paths: DataPaths, argv: list[str] | None = None, probe: StartupProbe | None = None) -> int:
    """Open the window over the data dir the CLI resolved (it reports bad ones)."""
    _setup_logging(paths)
    settings = Settings.load(paths.settings)

    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_ID)
    app.setApplicationDisplayName("Desktop Search")
    app.setOrganizationName(APP_ID)
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())
    sys.excepthook = _log_uncaught

    from desktop_search.gui.main_window import MainWindow

    window = MainWindow(paths, settings)
    if probe is not None:
        def on_exposed() -> None:
            probe.shown()
            if probe.query is None:
                QTimer.singleShot(0, window.close)
                return
            window.search_bar.field.setText(probe.query)
            window.run_search()

        def on_answer(documents: int) -> None:
            if probe.answered is not None:
                probe.answered(documents, window.controller.search.model_info is not None)
            QTimer.singleShot(0, window.close)

        window.first_exposed.connect(on_exposed)
        window.results_shown.connect(on_answer)
    window.show()
    code = app.exec()
    window.shutdown()
    return code


if __name__ == "__main__":  # ``python -m desktop_search.gui.app``: the CLI's bare command, which opens the window
    from desktop_search.cli import main as cli_main

    sys.exit(cli_main())
