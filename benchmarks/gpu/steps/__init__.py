"""The steps of the GPU check, in the order of the summary."""
from __future__ import annotations

from gpu.harness import Step
from gpu.steps import env, index, latency, oom, pipeline, quality, sweep

STEPS: tuple[Step, ...] = (env.ENV, env.STATUS, index.STEP, pipeline.STEP, sweep.STEP, quality.STEP, latency.STEP,
                          oom.STEP)
