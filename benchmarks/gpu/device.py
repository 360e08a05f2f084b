"""The device under measurement: its busy share while a step runs, and what the machine is."""
from __future__ import annotations

import logging
import platform
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Self

from desktop_search.embed.hardware import cpu_cores
from gpu.harness import Context, Figures

logger = logging.getLogger(__name__)


class GpuSampler:
    """Samples the GPU's busy share (NVML's utilization.gpu) in a thread, through
    pynvml when it is there, else nvidia-smi; a no-op without a GPU."""

    def __init__(self, ctx: Context, label: str, interval_s: float = 0.2) -> None:
        self.ctx, self.label, self.interval_s = ctx, label, interval_s
        self.samples: list[tuple[float, float, float]] = []  # (time, busy %, memory MiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="gpu-sampler")
        self._read: Callable[[], tuple[float, float]] | None = self._reader() if ctx.cuda else None

    def _reader(self) -> Callable[[], tuple[float, float]] | None:
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)

            def read_nvml() -> tuple[float, float]:
                util = pynvml.nvmlDeviceGetUtilizationRates(handle)
                return float(util.gpu), pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20

            return read_nvml
        except Exception as exc:  # noqa: BLE001 - any NVML trouble: fall back to the command
            logger.info("pynvml unusable (%s); sampling with nvidia-smi", exc)
        if shutil.which("nvidia-smi") is None:
            return None

        def read_smi() -> tuple[float, float]:
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                                  "--format=csv,noheader,nounits", "-i", "0"],
                                 capture_output=True, text=True, timeout=5, check=True).stdout
            busy, mem = out.strip().split(",")[:2]
            return float(busy), float(mem)

        return read_smi

    def _run(self) -> None:
        read = self._read
        if read is None:
            return
        while not self._stop.wait(self.interval_s):
            try:
                busy, mem = read()
            except Exception as exc:  # noqa: BLE001 - sampling must never stop the measurement
                logger.warning("GPU sampling failed: %s", exc)
                return
            self.samples.append((time.time(), busy, mem))

    def __enter__(self) -> Self:
        if self._read is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        with open(self.ctx.gpu_log, "a", encoding="utf-8") as fh:
            fh.writelines(f"{self.label},{t:.2f},{busy:.0f},{mem:.0f}\n" for t, busy, mem in self.samples)

    def busy_share(self) -> float | None:
        """Mean busy share (0-1) over the samples; None without samples."""
        return statistics.fmean(s[1] for s in self.samples) / 100 if self.samples else None

    def peak_memory_mib(self) -> float | None:
        return max(s[2] for s in self.samples) if self.samples else None


def cuda_sync(device: str) -> None:
    """Waits for the GPU's queued work, so that a clock read after it counts that work."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def gpu_name(ctx: Context) -> str | None:
    """The GPU's own name as torch gives it; None when the check runs on the CPU."""
    if not ctx.cuda:
        return None
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "(torch sees no GPU)"


def environment() -> Figures:
    """Python, torch, CUDA and transformers versions, the cores, and the GPU torch sees."""
    import torch
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "transformers": transformers.__version__, "cores": cpu_cores(),
            "cuda_available": torch.cuda.is_available(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
