"""The whole index path with a forward that costs nothing: what the pipeline around the model allows.

The model is a 1-layer, 16-wide random BERT made here with the default
model's tokenizer (all-MiniLM-L6-v2's ``tokenizer.json``, 256-token windows):
its forward costs next to nothing, so what is left is crawl, reading and
chunking (worker processes), commits of text and full-text rows, the
embedder's own work around the forward (tokenising, padding), the vector
store and hnsw. ``--model PATH`` indexes with another model instead (the
figures are then labelled with it).

The development machine is shared, so wall time drifts with the load of
others: the figures that matter are CPU seconds (user + sys, from the
kernel) per process, per passage, and the load average next to them.

- main process: ``getrusage(RUSAGE_SELF)`` around ``Indexer.run`` (model
  loaded before, not counted); its threads' shares from ``/proc/self/task``,
  sampled every 50 ms;
- workers: the extraction processes, summed (the forkserver's tree in
  ``/proc``: live processes and the ones it reaped);
- cores busy: ours, (main + workers CPU) / (wall x cores), and the
  machine's, from ``/proc/stat`` (everyone's work);
- CPU-bound passages/s: passages / max(main CPU, all CPU / cores), what
  these CPU seconds allow on idle cores (the main process runs on about one
  core, the workers on the rest);
- stages: seconds per stage from ``IndexReport.timings`` (they overlap).

With ``--cli``, a cold ``desktop-search index --model FREE`` process is
timed instead (start, imports, pool, everything; as the issue's 469-475
passages/s were measured): main process CPU is its own, sampled at 50 ms,
workers are the rest of its process tree.

    PYTHONPATH=$PWD python benchmarks/bench_pipeline.py                 # SciFact, in process
    PYTHONPATH=$PWD python benchmarks/bench_pipeline.py --cli           # SciFact, the CLI
    PYTHONPATH=$PWD python benchmarks/bench_pipeline.py -n 1000 --workers 14
    PYTHONPATH=$PWD python benchmarks/bench_pipeline.py --library ../shared/corpora/jsquad/library

The last line printed is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import LIBRARY, REPO, link_library, machine_note, sqlite_ro
from desktop_search.embed import embedder as _embedder  # noqa: F401 - its OpenMP settings, before torch is imported
from tests.conftest import build_tiny_model

TICK = os.sysconf("SC_CLK_TCK")
FREE_FORWARD = "free forward: 1-layer 16-wide random BERT, all-MiniLM-L6-v2 tokenizer"
NATIVE = "native"
SAMPLE_S = 0.05
STAGES = ("extract", "chunk", "wait", "commit", "model", "waiting for reading", "tokenize", "forward", "store wait",
          "store")


# -- CPU time from the kernel -------------------------------------------------------------


def _stat_fields(path: str) -> list[str] | None:
    """The fields of a /proc stat file after the command name (field 3 = index 0), None if it is gone."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read().decode(errors="replace")
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()


def own_cpu(pid: int | str, task: str | None = None) -> float | None:
    """utime + stime of a process (or one of its threads), seconds."""
    f = _stat_fields(f"/proc/{pid}/task/{task}/stat" if task else f"/proc/{pid}/stat")
    return None if f is None else (int(f[11]) + int(f[12])) / TICK


def _processes() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU of it and of the children it reaped)."""
    out: dict[int, tuple[int, float]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (f := _stat_fields(f"/proc/{name}/stat")) is not None:
            out[int(name)] = (int(f[1]), sum(int(x) for x in f[11:15]) / TICK)
    return out


def tree_cpu(root: int, procs: dict[int, tuple[int, float]] | None = None) -> float:
    """CPU of ``root`` and its live descendants, each with the children it reaped (none counted twice)."""
    procs = procs if procs is not None else _processes()
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        kids.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            total += procs[pid][1]
            todo.extend(kids.get(pid, []))
    return total


def children(pid: int) -> list[int]:
    return [p for p, (ppid, _) in _processes().items() if ppid == pid]


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of every core, from /proc/stat: everyone's work, not only ours."""
    with open("/proc/stat") as fh:
        values = [int(x) for x in fh.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@dataclass
class Sampler:
    """Samples CPU every 50 ms on a thread: threads of this process by name, or a child process and its tree."""

    child: int | None = None  # --cli: the index process
    threads: dict[str, float] = field(default_factory=dict)  # thread name -> CPU seconds (last sample)
    child_own: float = 0.0
    child_tree_rest: float = 0.0  # the child's descendants (the workers), the highest sum seen
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _before: dict[int, float] = field(default_factory=dict)
    _names: dict[int, str] = field(default_factory=dict)

    def __enter__(self) -> Sampler:
        self._before = {int(tid): own_cpu(os.getpid(), tid) or 0.0 for tid in os.listdir(f"/proc/{os.getpid()}/task")}
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sample()
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.sample()

    def sample(self) -> None:
        if self.child is not None:
            procs = _processes()
            if self.child in procs:
                own = own_cpu(self.child)
                if own is not None:
                    self.child_own = own
                    self.child_tree_rest = max(self.child_tree_rest, tree_cpu(self.child, procs) - procs[self.child][1])
            return
        me = os.getpid()
        for t in threading.enumerate():  # a thread that ended keeps its name (its task lingers a moment)
            if t.native_id is not None:
                self._names[t.native_id] = "main thread" if t is threading.main_thread() else t.name
        others = 0.0
        for tid in os.listdir(f"/proc/{me}/task"):
            cpu = own_cpu(me, tid)
            name = self._names.get(int(tid), "")
            if cpu is None or name == "bench-sampler":
                continue
            cpu -= self._before.get(int(tid), 0.0)
            if name:
                self.threads[name] = cpu
            else:
                others += cpu
        # Threads Python did not start and that live on: torch's intra-op (OpenMP) pool.
        self.threads[NATIVE] = max(self.threads.get(NATIVE, 0.0), others)


# -- the runs -----------------------------------------------------------------------------------------------


def free_model(folder: Path, tokenizer_from: Path | None = None) -> Path:
    """A 1-layer, 16-wide random BERT with the default model's tokenizer (``tokenizer_from``: that model's folder,
    where its package is not installed) and window: a forward that costs nothing."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    return build_tiny_model(folder, max_tokens=256, layers=1, width=16, tokenizer_from=tokenizer_from)


def library_of(args: argparse.Namespace, tmp: Path) -> tuple[Path, int]:
    library = Path(args.library)
    files = sorted(p for p in library.rglob("*") if p.suffix.lower() in (".pdf", ".epub"))
    if args.n is not None:
        files = files[: args.n]
        library = link_library(files, tmp / "library")
    return library, len(files)


@dataclass(frozen=True)
class Setup:
    """One measured run: what is indexed, with which model, where."""

    model: Path
    library: Path
    data: Path
    workers: int | None = None
    batch_chunks: int | None = None
    device: str = "cpu"


def run_in_process(setup: Setup) -> dict[str, Any]:
    from desktop_search.embed.embedder import Embedder
    from desktop_search.embed.models import resolve_model
    from desktop_search.index.indexer import Indexer, IndexOptions
    from desktop_search.paths import resolve_data_dir

    embedder = Embedder(resolve_model(str(setup.model)), device=setup.device)
    embedder.encode_passages(["warm up the model"] * 8)
    forward_cpu = [0.0]  # the calling thread's CPU inside the model's forward
    forward = embedder.runner.run

    def timed_forward(*args: Any) -> Any:
        t0 = time.thread_time()
        try:
            return forward(*args)
        finally:
            forward_cpu[0] += time.thread_time() - t0

    embedder.runner.run = timed_forward  # type: ignore[method-assign,assignment]  # counted, not changed
    options = IndexOptions(model=str(setup.model), device=setup.device, workers=setup.workers,
                           batch_chunks=setup.batch_chunks or IndexOptions.batch_chunks)
    # The forkserver (started with the first pool, kept for the process) runs the workers.
    before_kids = {pid: tree_cpu(pid) for pid in children(os.getpid())}
    busy0, total0 = machine_ticks()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    with Sampler() as sampler:
        report = Indexer(resolve_data_dir(setup.data), options, embedder=embedder).run(add=[str(setup.library)])
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(0.2)  # the forkserver reaps the last workers
    busy1, total1 = machine_ticks()
    workers = sum(tree_cpu(pid) - before_kids.get(pid, 0.0) for pid in children(os.getpid()))
    main = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    threads = dict(sampler.threads)
    torch_threads = threads.pop(NATIVE, 0.0)
    threads["index-embed: the forward"] = forward_cpu[0]
    threads["index-embed"] = max(0.0, threads.get("index-embed", 0.0) - forward_cpu[0])  # sampled: may lag a tick
    threads["the engine's own threads (the forward)"] = torch_threads
    # Threads that ended before the last sample: hnswlib's add_items starts its own each call.
    threads["short-lived threads (hnsw add), by difference"] = main - sum(threads.values())
    return {
        "passages": report.chunks, "embedded": report.embedded, "files_indexed": report.added,
        "files_failed": len(report.failed), "wall_s": wall, "main_cpu_s": main, "workers_cpu_s": workers,
        "forward_cpu_s": forward_cpu[0] + torch_threads,
        "threads_cpu_s": {k: round(v, 3) for k, v in sorted(threads.items(), key=lambda kv: -kv[1])},
        "stages_s": {k: round(float(report.timings.get(k, 0.0)), 3) for k in STAGES},
        "machine_busy_share": (busy1 - busy0) / max(1, total1 - total0),
    }


def run_cli(setup: Setup) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "desktop_search", "--data-dir", str(setup.data), "--model", str(setup.model),
           "--device", setup.device, "index", "--no-progress", str(setup.library)]
    if setup.workers:
        cmd[-1:-1] = ["--workers", str(setup.workers)]
    busy0, total0 = machine_ticks()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with Sampler(child=proc.pid) as sampler:
        out, err = proc.communicate()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy1, total1 = machine_ticks()
    if proc.returncode != 0:
        raise SystemExit(f"index failed (rc {proc.returncode}): {err[-2000:]}")
    print(out.strip().splitlines()[0])
    with sqlite_ro(setup.data / "index.sqlite3") as con:
        passages, embedded = con.execute("SELECT count(*), count(embedding) FROM chunks").fetchone()
        files = con.execute("SELECT count(*) FROM documents WHERE status = 'indexed'").fetchone()[0]
    reaped = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {
        "passages": passages, "embedded": embedded, "files_indexed": files, "wall_s": wall,
        "main_cpu_s": sampler.child_own, "workers_cpu_s": sampler.child_tree_rest,
        "reaped_cpu_s": reaped,  # the index process and whatever it waited for, exactly (a cross-check)
        "machine_busy_share": (busy1 - busy0) / max(1, total1 - total0),
    }


def figures_of(run: dict[str, Any]) -> dict[str, Any]:
    """Per passage and per core, from a run's seconds (CPU-bound: what these CPU seconds allow on idle cores)."""
    cores = len(os.sched_getaffinity(0))
    n = max(1, run["passages"])
    wall, main_cpu, workers_cpu = run["wall_s"], run["main_cpu_s"], run["workers_cpu_s"]
    return {
        **run, "cores": cores, "passages_per_s": n / wall, "main_cpu_ms_per_passage": 1000 * main_cpu / n,
        "workers_cpu_ms_per_passage": 1000 * workers_cpu / n,
        "our_busy_share": (main_cpu + workers_cpu) / (wall * cores),
        "cpu_bound_passages_per_s": n / max(main_cpu, (main_cpu + workers_cpu) / cores),
        "main_process_cap_passages_per_s": n / main_cpu if main_cpu else None,
        "main_cpu_ms_per_passage_without_forward": 1000 * (main_cpu - run.get("forward_cpu_s", 0.0)) / n,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--library", default=str(LIBRARY), help="folder to index (default: the SciFact library)")
    ap.add_argument("-n", type=int, default=None, help="only the first N files (default: all)")
    ap.add_argument("--workers", type=int, default=None, help="extraction processes (default: the pipeline's choice)")
    ap.add_argument("--batch-chunks", type=int, default=None, help="in process: IndexOptions.batch_chunks")
    ap.add_argument("--device", default="cpu", help="where the model runs: cpu (default), cuda")
    ap.add_argument("--model", help="a model folder instead of the free forward")
    ap.add_argument("--cli", action="store_true", help="time a cold `desktop-search index` process")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp_name:
        tmp = Path(tmp_name)
        model = Path(args.model) if args.model else free_model(tmp / "free-model")
        label = f"model {args.model}" if args.model else FREE_FORWARD
        library, n_files = library_of(args, tmp)
        note_before, load_before = machine_note(), load()
        setup = Setup(model, library, tmp / "data", args.workers, args.batch_chunks, args.device)
        run = (run_cli if args.cli else run_in_process)(setup)
        load_after = load()
    figures: dict[str, Any] = {
        "mode": "cli" if args.cli else "in-process", "model": label, "library": str(args.library), "files": n_files,
        "workers": args.workers, "device": args.device, **figures_of(run), "load_before": load_before,
        "load_after": load_after,
    }
    n = max(1, run["passages"])
    wall, main_cpu, workers_cpu = run["wall_s"], run["main_cpu_s"], run["workers_cpu_s"]
    cores, cpu_bound = figures["cores"], figures["cpu_bound_passages_per_s"]
    print(f"machine before: {note_before}\nmachine after:  {machine_note()}")
    print(f"{figures['mode']}, {label}")
    print(f"files {n_files} ({run['files_indexed']} indexed), passages {run['passages']} ({run['embedded']} embedded), "
          f"wall {wall:.2f} s = {n / wall:.0f} passages/s (wall: drifts with the machine's load)")
    print(f"main process CPU {main_cpu:.2f} s = {figures['main_cpu_ms_per_passage']:.3f} ms/passage "
          f"(alone it allows {figures['main_process_cap_passages_per_s'] or 0:.0f} passages/s)")
    if "forward_cpu_s" in run:
        print(f"  of which the model's forward {run['forward_cpu_s']:.2f} s; the pipeline around it "
              f"{figures['main_cpu_ms_per_passage_without_forward']:.3f} ms/passage")
    print(f"workers CPU (summed) {workers_cpu:.2f} s = {figures['workers_cpu_ms_per_passage']:.3f} ms/passage")
    print(f"cores busy: ours {figures['our_busy_share']:.0%} of {cores}; the machine's (everyone) "
          f"{run['machine_busy_share']:.0%}")
    print(f"CPU-bound passages/s on {cores} idle cores: {cpu_bound:.0f}")
    for name, sec in run.get("threads_cpu_s", {}).items():
        print(f"  main-process thread {name:<20} {sec:7.2f} s CPU = {1000 * sec / n:.3f} ms/passage")
    if "stages_s" in run:
        print("stages (s; they overlap; extract and chunk are summed over the workers):")
        for k, v in run["stages_s"].items():
            print(f"  {k:<20} {v:8.2f} s")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
