"""Every step of the GPU check (benchmarks/gpu/) runs on the CPU at tiny sizes and records the keys it promises.

The check runs on a rented GPU, where a crash costs the whole lease: this test is what keeps its steps working
between such runs (a handful of SciFact files, the tiny random BERT; the figures mean nothing here).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from desktop_search.cli import main as cli_main
from tests.conftest import REPO, SCIFACT, scifact_slice

sys.path.insert(0, str(REPO / "benchmarks"))
from gpu.harness import main
from gpu.steps import STEPS

pytestmark = pytest.mark.skipif(not (SCIFACT / "library").is_dir(), reason="the shared SciFact corpus is not checked out")

# The script's CPU sizes, smaller still: (step, its options) in the order gpu_check.sh runs them.
RUNS: list[tuple[str, list[str]]] = [
    ("env", []),
    ("index", ["--replicas", "1", "--seconds", "20", "--bare-cap", "50", "--batch-chunks", "16"]),
    ("pipeline", ["--replicas", "1", "--workers", "1"]),
    ("quality", ["--distractors", "0"]),
    ("latency", ["--queries", "3"]),
    ("oom", ["--budget", "4096", "--passages", "8", "--cpu-cap-tokens", "64"]),
    ("sweep", ["--replicas", "1", "--budgets", "2048", "--seconds", "20", "--batch-chunks", "16"]),
]


def tiny_scifact(folder: Path) -> Path:
    """Two test queries, their judged files and a few others, in the layout gpu_prepare.sh carries."""
    queries, qrels, files = scifact_slice(2, 5, split="test")
    (folder / "library").mkdir(parents=True)
    for f in files:
        os.symlink(f, folder / "library" / f.name)
    (folder / "queries-test.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    (folder / "qrels-test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, docs in qrels.items() for d in sorted(docs)),
        encoding="utf-8")
    return folder


@pytest.mark.torch  # the GPU check runs the torch engine (the oom step simulates torch's own error)
def test_every_step_runs_on_the_cpu_and_records_its_keys(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    common = ["--device", "cpu", "--model", str(tiny_model), "--scifact", str(tiny_scifact(tmp_path / "scifact")),
              "--work", str(tmp_path / "work"), "--results", str(out / "results.jsonl"),
              "--gpu-log", str(out / "gpu_util.csv")]
    # The status step reads what the CLI printed, as in the script.
    assert cli_main(["--data-dir", str(tmp_path / "status-data"), "--model", str(tiny_model), "status", "--json"]) == 0
    (out / "status.json").write_text(capsys.readouterr().out, encoding="utf-8")
    runs = [("status", [str(out / "status.json")]), *RUNS]
    for name, options in runs:
        assert main(STEPS, [*common, name, *options]) == 0, name
    assert {s.name for s in STEPS} == {name for name, _ in runs}, "a step the test does not run"

    records = {r["step"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    for step in STEPS:
        missing = [k for k in (*step.keys, "step_s") if k not in records[step.name]]
        assert not missing, f"{step.name} recorded no {missing}"
    assert records["status"]["ok"] and records["status"]["reported"].startswith("CPU")
    assert records["index"]["passages"] > 0 and records["index"]["bare_passages"] > 0
    assert {"dense", "hybrid"} <= records["quality"].keys() and records["quality"]["queries"] == 2
    assert records["latency"]["cpu_search"]["p50_ms"] > 0
    oom = records["oom"]
    assert oom["completed"] and oom["budget_after"] < oom["budget_before"] and oom["n_log_lines"] >= 1
    assert [(p["token_budget"], p["passages"] > 0) for p in records["sweep"]["points"]] == [
        (records["sweep"]["default_budget"], True), (2048, True)]

    steps_tsv = out / "steps.tsv"
    steps_tsv.write_text("".join(f"{name}\t0\t1.0\n" for name in ["install", *(name for name, _ in runs)]))
    assert main(STEPS, [*common, "summary", "--steps", str(steps_tsv), "--write", str(out / "summary.txt")]) == 0
    summary = (out / "summary.txt").read_text()
    assert "NO FIGURES" not in summary
    for line_start in ("status:", "cold index:", "sweep (", "quality dense:", "quality hybrid:", "latency (",
                       "out of memory ("):
        assert f"\n{line_start}" in summary, line_start
