"""What this computer offers the model, found without importing torch.

torch costs 1.6-3 s of imports, and it is an optional extra: the engine
choice (:mod:`desktop_search.embed.engine`) must know whether the CPU computes
bf16 natively, has int8 dot-product instructions, and whether a GPU or torch
is there at all, before anything heavy loads. So the CPU's flags come from
``/proc/cpuinfo`` on Linux and ``sysctl`` on macOS, and torch's presence from
its package metadata; torch itself is asked only once it is the engine.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

logger = logging.getLogger(__name__)

# CPU flags (Linux /proc/cpuinfo spelling) that compute bf16 in hardware: there torch's bf16 autocast runs
# about 2.5x faster than its fp32; elsewhere bf16 is emulated and slower than fp32.
_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
# int8 dot products in one instruction. Without them ONNX Runtime's u8s8 int8 kernels add pairs of products
# in 16 bits, which can saturate, so int8 weights are kept to 7 bits there (ORT's "reduce_range").
_VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


@dataclass(frozen=True)
class CpuFeatures:
    """The few CPU capabilities the engine choice depends on."""

    native_bf16: bool = False
    int8_dot: bool = True  # VNNI/AMX on x86; ARM's dot-product instructions; unknown CPUs are assumed to have it
    description: str = ""

    @classmethod
    def from_flags(cls, flags: set[str], description: str = "") -> CpuFeatures:
        """From Linux-style feature flags (``/proc/cpuinfo``'s ``flags`` line)."""
        return cls(native_bf16=bool(flags & _BF16_FLAGS), int8_dot=bool(flags & _VNNI_FLAGS),
                   description=description)


def _linux_features(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuFeatures:
    flags: set[str] = set()
    name = ""
    arm = platform.machine().lower() in ("aarch64", "arm64")
    with cpuinfo.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("flags", "Features"):  # x86, ARM
                flags = set(value.split())
            elif key == "model name" and not name:
                name = value.strip()
            if flags and name:
                break
    if arm:  # bf16 ("bf16") and int8 dot products ("asimddp") on ARMv8.6 / v8.2
        return CpuFeatures(native_bf16="bf16" in flags, int8_dot="asimddp" in flags, description=name)
    return CpuFeatures.from_flags(flags, name)


def _macos_features() -> CpuFeatures:
    def sysctl(key: str) -> str:
        try:
            return subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    name = sysctl("machdep.cpu.brand_string")
    if platform.machine() == "arm64":  # Apple silicon: bf16 from M2 on, int8 dot products on all
        return CpuFeatures(native_bf16=sysctl("hw.optional.arm.FEAT_BF16") == "1", int8_dot=True, description=name)
    flags = set(sysctl("machdep.cpu.leaf7_features").lower().replace(".", "_").split())
    return CpuFeatures(native_bf16=False, int8_dot="avx512vnni" in flags, description=name)


@lru_cache(maxsize=1)
def cpu_features() -> CpuFeatures:
    """This CPU's capabilities; on a platform that cannot tell (Windows), what is safe to assume.

    Windows reports no flags without a native call, so there bf16 counts as
    emulated (torch bf16 is then never chosen by ``auto``: safe, at worst
    slower on the few desktop CPUs with AMX) and int8 dot products as present.
    """
    try:
        if sys.platform.startswith("linux"):
            return _linux_features()
        if sys.platform == "darwin":
            return _macos_features()
    except OSError as exc:
        logger.debug("Could not read the CPU's features: %s", exc)
    return CpuFeatures(description=platform.processor())


def cpu_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not on macOS or Windows
        return os.cpu_count() or 1


@lru_cache(maxsize=1)
def torch_installed() -> bool:
    """Whether the torch extra is installed (found on the path; not imported)."""
    return importlib.util.find_spec("torch") is not None


def gpu_possible() -> bool:
    """Whether torch could find a GPU here, known without importing it (seconds on a busy machine).

    Linux: only with NVIDIA's driver loaded. macOS on Apple silicon: MPS.
    Windows: only torch can tell.
    """
    if sys.platform.startswith("linux"):
        return Path("/proc/driver/nvidia/version").exists()
    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    return True


def torch_gpu() -> str:
    """The device torch finds: cuda, then mps, then cpu. Imports torch (seconds), so only where it is
    installed and :func:`gpu_possible`; here, below the engines, so that choosing one needs neither engine."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"
