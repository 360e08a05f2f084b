"""The harness of the GPU check: context, step registry, JSON records, summary and command line.

A step is a :class:`Step`: a subcommand whose run returns its figures. The
harness times it, appends the figures as one JSON record to ``--results`` (so
a step that fails or runs out of time leaves the others' figures intact) and
checks that the record has the keys the step promises; ``summary`` turns the
records into the report, each step writing its own lines.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_search.embed.models import ModelSpec, resolve_model

logger = logging.getLogger(__name__)

MS = 1000.0

Figures = dict[str, Any]
"""One step's record: JSON-serialisable figures by name."""


@dataclass
class Context:
    """What every step needs: where things are, which device, where figures go."""

    device: str
    model: str
    scifact: Path
    work: Path
    results: Path
    gpu_log: Path

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")

    def spec(self) -> ModelSpec:
        return resolve_model(self.model)

    def record(self, step: str, figures: Figures) -> None:
        with open(self.results, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"step": step, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                 **figures}) + "\n")

    def records(self) -> dict[str, Figures]:
        """The last record of each step so far."""
        records: dict[str, Figures] = {}
        if self.results.exists():
            for line in self.results.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    r = json.loads(line)
                    records[r["step"]] = r
        return records


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A step without options of its own."""


@dataclass(frozen=True)
class Step:
    """One measurement, run as ``python benchmarks/gpu <name>``."""

    name: str
    run: Callable[[Context, argparse.Namespace], Figures]
    keys: tuple[str, ...]
    """Figures every record of this step has (what the summary reads; the test holds steps to it)."""
    add_arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
    summarize: Callable[[Figures, Context], list[str]] | None = None
    """The step's lines in summary.txt, from its record."""
    passed: Callable[[Figures], bool] | None = None
    """Whether the figures pass; a step that does not exits 1 (after its record is written)."""


def run_step(step: Step, ctx: Context, args: argparse.Namespace) -> bool:
    """Runs and records ``step``; False if its figures miss a promised key or fail its check."""
    t0 = time.perf_counter()
    figures = step.run(ctx, args)
    figures["step_s"] = round(time.perf_counter() - t0, 2)
    ctx.record(step.name, figures)
    missing = [k for k in step.keys if k not in figures]
    if missing:
        logger.error("step %s recorded no %s", step.name, ", ".join(missing))
    return not missing and (step.passed is None or step.passed(figures))


def pct(x: float | None) -> str:
    return "n/a (no GPU samples)" if x is None else f"{x:.0%}"


# -- the report ---------------------------------------------------------------------


def summarize(ctx: Context, steps: Sequence[Step], steps_tsv: Path | None, write: Path) -> str:
    """summary.txt: the steps' times (from the script's steps.tsv) and each step's figures against its targets."""
    records = ctx.records()
    out = [f"GPU check, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, device {ctx.device}"]
    ran = [line.split("\t") for line in steps_tsv.read_text().splitlines() if line.strip()] if steps_tsv else []
    if ran:
        out.append("steps (name, exit status, seconds): " + "; ".join(" ".join(fields) for fields in ran))
    for step in steps:
        if step.summarize is not None and step.name in records:
            out.extend(step.summarize(records[step.name], ctx))
    missing = [fields[0] for fields in ran if fields[0] not in records and fields[0] != "install"]
    if missing:
        out.append("NO FIGURES from: " + ", ".join(missing) + " (see steps.log)")
    text = "\n".join(out) + "\n"
    write.write_text(text, encoding="utf-8")
    return text


# -- the command line ---------------------------------------------------------------


def parser(steps: Sequence[Step], description: str | None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--model", required=True, help="model folder (the carried fp16 copy)")
    ap.add_argument("--scifact", type=Path, required=True, help="folder with library/, queries-test.jsonl, qrels-test.tsv")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument("--gpu-log", type=Path, required=True)
    sub = ap.add_subparsers(dest="step", required=True)
    for step in steps:
        step.add_arguments(sub.add_parser(step.name))
    p = sub.add_parser("summary")
    p.add_argument("--steps", type=Path, help="the script's steps.tsv: name, exit status, seconds")
    p.add_argument("--write", type=Path, required=True)
    return ap


def main(steps: Sequence[Step], argv: list[str] | None = None, description: str | None = None) -> int:
    args = parser(steps, description).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx = Context(args.device, args.model, args.scifact, args.work, args.results, args.gpu_log)
    ctx.work.mkdir(parents=True, exist_ok=True)
    if args.step == "summary":
        print(summarize(ctx, steps, args.steps, args.write), end="")
        return 0
    step = next(s for s in steps if s.name == args.step)
    return 0 if run_step(step, ctx, args) else 1
