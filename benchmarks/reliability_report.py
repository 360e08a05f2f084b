"""Index the PDF/EPUB zoos plus generated hostile files through the CLI and print the closing figures.

    PYTHONPATH=$PWD python benchmarks/reliability_report.py [--model DIR] [--timeout S]

Prints: files indexed, files failed, a table of failure reasons, partly read
files, and the slowest single file (extraction seconds, from the CLI report).
With no --model, a tiny random BERT is built in a temp dir (the figures are
about robustness, not retrieval quality).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import EPUB_ZOO, PDF_ZOO, build_tiny_model
from tests.reliability.hostile import make_hostile_library, write_zip_bomb


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = args.model or str(build_tiny_model(root / "tiny"))
        bomb = write_zip_bomb(root / "bomb.epub")
        make_hostile_library(root / "hostile", bomb=bomb)
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"}
        base = [sys.executable, "-m", "desktop_search", "--data-dir", str(root / "data"), "--model", model]
        start = time.monotonic()
        run = subprocess.run([*base, "index", "--no-progress", "--timeout", str(args.timeout),
                              str(PDF_ZOO), str(EPUB_ZOO), str(root / "hostile")],
                             capture_output=True, text=True, errors="backslashreplace", env=env)
        wall = time.monotonic() - start
        print(run.stdout.splitlines()[0] if run.stdout else run.stderr)
        status = json.loads(subprocess.run([*base, "status", "--json"], capture_output=True, text=True,
                                           errors="backslashreplace", env=env, check=True).stdout)
        search = subprocess.run([*base, "search", "--json", "Alice rabbit hole"], capture_output=True, text=True,
                                errors="backslashreplace", env=env)
    reasons = collections.Counter(re.sub(r"\d+", "N", re.sub(r" in '.*'", "", f["error"])) for f in status["failed"])
    print(f"\nindex exit code {run.returncode}; wall {wall:.0f} s (shared 2-core machine)")
    print(f"files indexed: {status['documents']}   files failed: {len(status['failed'])}   "
          f"passages: {status['chunks']}   partly read: {len(status['warnings'])}")
    print("\n| failure reason | files |\n| --- | --- |")
    for reason, n in reasons.most_common():
        print(f"| {reason} | {n} |")
    for w in status["warnings"]:
        print(f"partly read: {Path(w['path']).name}: {w['error']}")
    slow = [line for line in run.stdout.splitlines() if line.startswith("Slowest file:")]
    print(slow[0] if slow else "no slowest-file line")
    print(f"search afterwards: exit {search.returncode}, {len(search.stdout.splitlines())} results")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
