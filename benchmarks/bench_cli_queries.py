"""Query latency through the CLI: `search --queries` over the 300 SciFact test queries.

Per query = (wall of a run with all the queries - wall of a run with one) /
(queries - 1), so process start and model load drop out. Baseline in the
same run: the query embedding alone (one thread, as the CLI runs it), the
floor no index can beat. Needs an index of the SciFact library, e.g. from
``bench_index.py --cli --all --data-dir DIR``.

    PYTHONPATH=$PWD python benchmarks/bench_cli_queries.py --data-dir /tmp/scifact-index
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, machine_note
from desktop_search.embed.embedder import Embedder
from desktop_search.embed.models import resolve_model
from tests.conftest import SCIFACT


def cli_wall(data: str, queries: Path, mode: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "desktop_search", "--data-dir", data, "search", "--queries",
                          str(queries), "--json", "--mode", mode], cwd=REPO, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--modes", nargs="+", default=["hybrid", "keyword", "dense"])
    args = ap.parse_args(argv)
    lines = (SCIFACT / "queries-test.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines]
    print(f"machine before: {machine_note()}")
    with tempfile.TemporaryDirectory(prefix="bench-cliq-") as tmp:
        one, many = Path(tmp) / "one.jsonl", Path(tmp) / "all.jsonl"
        one.write_text(lines[0] + "\n", encoding="utf-8")
        many.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for mode in args.modes:
            t1 = cli_wall(args.data_dir, one, mode)
            tn = cli_wall(args.data_dir, many, mode)
            per = (tn - t1) / (len(lines) - 1)
            print(f"{mode:8s} CLI: {len(lines)} queries {tn:.2f} s, 1 query {t1:.2f} s -> {per * 1000:.1f} ms/query "
                  f"(target <= 25)   [{machine_note()}]")
    embedder = Embedder(resolve_model(None), device="cpu", threads=1)
    embedder.encode_queries(["warm up"])
    t0 = time.perf_counter()
    for t in texts:
        embedder.encode_queries([t])
    emb = (time.perf_counter() - t0) / len(texts)
    print(f"baseline: the query embedding alone, one thread: {emb * 1000:.1f} ms/query   [{machine_note()}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
