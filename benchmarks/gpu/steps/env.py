"""What the check ran on, and whether `desktop-search status` names the GPU the machine has."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from gpu.device import environment, gpu_name
from gpu.harness import Context, Figures, Step


def run_env(ctx: Context, args: argparse.Namespace) -> Figures:
    figures = environment()
    print(json.dumps(figures))
    return figures


def summarize_env(env: Figures, ctx: Context) -> list[str]:
    return [f"machine: {env.get('gpu') or 'no GPU'}; torch {env.get('torch')} (CUDA {env.get('cuda')}), "
            f"Python {env.get('python')}, {env.get('cores')} cores"]


ENV = Step("env", run_env, keys=("python", "torch", "cuda", "transformers", "cores", "cuda_available", "gpu"),
           summarize=summarize_env)


def add_status_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("status_json", type=Path, help="what `desktop-search status --json` printed")


def run_status(ctx: Context, args: argparse.Namespace) -> Figures:
    """Compares the device `desktop-search status --json` reported with the GPU's own name."""
    reported = json.loads(args.status_json.read_text(encoding="utf-8")).get("device")
    expected = gpu_name(ctx)
    ok = reported == expected if expected else bool(reported)
    print(f"status reports device {reported!r}; GPU {expected!r}: {'OK' if ok else 'MISMATCH'}")
    return {"reported": reported, "expected": expected, "ok": ok}


def summarize_status(st: Figures, ctx: Context) -> list[str]:
    return [f"status: device reported {st.get('reported')!r}, GPU {st.get('expected')!r}: "
            f"{'OK' if st.get('ok') else 'MISMATCH'}"]


STATUS = Step("status", run_status, keys=("reported", "expected", "ok"), add_arguments=add_status_arguments,
              summarize=summarize_status, passed=lambda figures: bool(figures["ok"]))
