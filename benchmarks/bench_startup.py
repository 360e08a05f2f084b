"""Time from process start to the GUI window first being exposed, over a real index.

The library is a slice of SciFact indexed with the CLI (or an existing
``--data-dir``). Each run launches ``python -m desktop_search --data-dir D``
with ``DESKTOP_SEARCH_STARTUP_PROBE=1``, which prints the wall-clock time of
the window's first exposure and quits. Baselines measured in the same run:
``python -c "import PySide6.QtWidgets"`` (process start to exit), and an
empty QWidget's time to exposure. On a machine without a display it uses
Qt's offscreen platform; run it under Xvfb (``xvfb-run -a``) for a real X server.

    python benchmarks/bench_startup.py [--files 40] [--runs 7] [--data-dir D]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCIFACT = REPO.parent / "shared" / "corpora" / "scifact" / "library"

EMPTY_WINDOW = """
import json, sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication(sys.argv[:1])
w = QWidget(); w.resize(1200, 760); w.show()
class F(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Expose and obj.isExposed():
            print(json.dumps({"shown_at": time.time()}), flush=True)
            QTimer.singleShot(0, app.quit)
        return False
f = F(); w.windowHandle().installEventFilter(f)
app.exec()
"""


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return env


def build_index(data_dir: Path, n_files: int) -> None:
    files = sorted(p for p in SCIFACT.rglob("*") if p.suffix in (".pdf", ".epub"))[:n_files]
    lib = data_dir.parent / "library"
    lib.mkdir(parents=True, exist_ok=True)
    for p in files:
        shutil.copy(p, lib / p.name)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "desktop_search", "--data-dir", str(data_dir), "index", str(lib),
                    "--no-progress"], check=True, env=_env(), stdout=subprocess.DEVNULL)
    print(f"indexed {len(files)} files with the CLI in {time.perf_counter() - t:.1f} s")


def time_to_shown(cmd: list[str], env: dict[str, str]) -> tuple[float, dict]:
    start = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or "Traceback" in proc.stderr:
        raise RuntimeError(f"{cmd} failed:\n{proc.stderr}")
    probe = json.loads(proc.stdout.strip().splitlines()[-1])
    return probe["shown_at"] - start, probe


def time_to_exit(cmd: list[str], env: dict[str, str]) -> float:
    start = time.time()
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=120)
    return time.time() - start


def summary(xs: list[float]) -> str:
    return f"median {statistics.median(xs):.3f} s (min {min(xs):.3f}, max {max(xs):.3f}, n={len(xs)})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=40, help="SciFact files to index when no --data-dir is given")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--data-dir", help="an existing data dir (already indexed) to open")
    args = ap.parse_args()

    env = _env()
    tmp = None
    if args.data_dir:
        data_dir = Path(args.data_dir)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-startup-")
        data_dir = Path(tmp.name) / "data"
        build_index(data_dir, args.files)
    app_env = dict(env, DESKTOP_SEARCH_STARTUP_PROBE="1")
    app_cmd = [sys.executable, "-m", "desktop_search", "--data-dir", str(data_dir)]
    import_cmd = [sys.executable, "-c", "import PySide6.QtWidgets"]
    empty_cmd = [sys.executable, "-c", EMPTY_WINDOW]

    time_to_exit(import_cmd, env)  # warm the file cache once for everyone
    app, imports, empty, torch_seen = [], [], [], []
    for _ in range(args.runs):  # interleaved, so load on a shared machine hits all three alike
        imports.append(time_to_exit(import_cmd, env))
        empty.append(time_to_shown(empty_cmd, env)[0])
        t, probe = time_to_shown(app_cmd, app_env)
        app.append(t)
        torch_seen.append(probe["torch_loaded"])

    print(f"platform: {env.get('QT_QPA_PLATFORM') or 'default (' + env.get('DISPLAY', '?') + ')'}; "
          f"data dir: {data_dir}")
    print(f"baseline  python -c 'import PySide6.QtWidgets' (to exit): {summary(imports)}")
    print(f"baseline  empty QWidget, process start to exposed:        {summary(empty)}")
    print(f"desktop-search, process start to window exposed:          {summary(app)}")
    print(f"ratio vs import baseline: {statistics.median(app) / statistics.median(imports):.2f}x; "
          f"vs empty window: {statistics.median(app) / statistics.median(empty):.2f}x")
    print(f"torch imported before the window showed: {any(torch_seen)}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
