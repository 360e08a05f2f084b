"""``python benchmarks/gpu STEP ...``: one step of the GPU check (see the package's docstring)."""
from __future__ import annotations

import sys
from pathlib import Path

# Run as a folder, only the folder itself is on sys.path: the steps import `gpu.*` and the other
# benchmarks' modules from benchmarks/, and the project from the repository (installed or not).
BENCHMARKS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(BENCHMARKS), str(BENCHMARKS.parent)]

import gpu
from gpu.harness import main
from gpu.steps import STEPS

if __name__ == "__main__":
    raise SystemExit(main(STEPS, description=gpu.__doc__))
