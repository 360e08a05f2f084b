"""Start-up: the bare command opens the window before torch loads, honouring --data-dir."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from desktop_search.gui.app import PROBE_ENV, PROBE_QUERY_ENV, app_icon

REPO = Path(__file__).resolve().parents[2]


def _probe(module: str, data: Path, **extra: str) -> tuple[dict, subprocess.CompletedProcess[str]]:
    """Start ``python -m module --data-dir data`` with the start-up probe: its last JSON line, and the process."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO), **{PROBE_ENV: "1"}, **extra)
    proc = subprocess.run([sys.executable, "-m", module, "--data-dir", str(data)], env=env,
                          capture_output=True, text=True, timeout=120, cwd=data.parent)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc


def test_bare_command_shows_the_window_before_torch(tmp_path):
    data = tmp_path / "data dir"
    probe, proc = _probe("desktop_search", data)
    assert probe["torch_loaded"] is False
    assert "Traceback" not in proc.stderr
    assert data.is_dir()  # the --data-dir given was used
    assert (data / "desktop-search.log").exists()


def test_icon_and_desktop_entry(qapp):
    assert not app_icon().isNull()
    entry = (REPO / "resources" / "desktop-search.desktop").read_text(encoding="utf-8")
    assert "Exec=desktop-search" in entry and "Icon=desktop-search" in entry
    assert (REPO / "resources" / "desktop-search.svg").is_file() and (REPO / "resources" / "desktop-search.png").is_file()


def test_python_dash_m_gui_app_opens_the_window(tmp_path):
    data = tmp_path / "data"
    probe, _proc = _probe("desktop_search.gui.app", data)
    assert "shown_at" in probe and data.is_dir()


def test_the_probe_with_a_query_reports_its_first_answer(tmp_path):
    """What benchmarks/bench_scale.py times: the window searches as soon as it shows, and says when the answer came."""
    probe, proc = _probe("desktop_search", tmp_path / "data", **{PROBE_QUERY_ENV: "anything"})
    shown = json.loads(proc.stdout.strip().splitlines()[0])
    assert probe["answered_at"] >= shown["shown_at"] and probe["documents"] == 0  # nothing is indexed
    assert probe["cpu_s"] > 0 and "Traceback" not in proc.stderr


def test_many_signals_from_python_do_not_abort_the_interpreter() -> None:
    """PySide6 6.12's emit() takes a reference from True each time: without torch's references to hide it,
    about as many emits as True had references aborted Python 3.11 (see desktop_search/gui/__init__.py)."""
    code = ("import desktop_search.gui\nfrom PySide6.QtCore import QCoreApplication, QObject, Signal\n"
            "app = QCoreApplication([])\nclass Source(QObject):\n    ping = Signal(int)\n"
            "s = Source()\ns.ping.connect(lambda n: None)\nfor n in range(20_000):\n    s.ping.emit(n)\nprint('done')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO)))
    assert (out.returncode, out.stdout.strip()) == (0, "done"), out.stderr[-500:]
