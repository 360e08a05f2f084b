"""Which engine runs the model, on which device, in what arithmetic; and the seam every engine implements.

Two engines compute the same vectors (cosine >= 0.9999 at the same
precision, ``tests/embed/test_engines.py``):

- **ONNX Runtime** (:mod:`~desktop_search.embed.onnx_engine`), always
  installed: the CPU engine, fp32 or int8.
- **torch** (:mod:`~desktop_search.embed.torch_engine`), the optional extra
  ``desktop-search[torch]``: CUDA (fp16), Apple's MPS, bf16 autocast on CPUs
  that compute bf16 natively, and models that are not a plain BERT.

``auto`` takes the fastest arithmetic for the hardware (:func:`choose`),
from the engine table measured for the README ("Precision and speed").
Everything here is decided without importing torch.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from desktop_search.embed.hardware import cpu_features, gpu_possible, torch_gpu, torch_installed
from desktop_search.errors import UserFacingError

if TYPE_CHECKING:  # the CLI's parser imports the enums: numpy waits until a model loads
    import numpy as np

logger = logging.getLogger(__name__)

TORCH_EXTRA = "pip install 'desktop-search[torch]'"


class Engine(StrEnum):
    """What runs the model (setting ``engine``, option ``--engine``); recorded in the index as its value."""

    AUTO = "auto"  # the fastest for the hardware: see choose()
    ONNX = "onnx"  # ONNX Runtime on the CPU
    TORCH = "torch"  # torch: CUDA, MPS, bf16 on the CPU (the torch extra)

    @property
    def label(self) -> str:
        return {Engine.ONNX: "ONNX Runtime", Engine.TORCH: "torch"}.get(self, self.value)


class Precision(StrEnum):
    """The arithmetic the model runs in (setting ``precision``, option ``--precision``)."""

    AUTO = "auto"  # the fastest that keeps retrieval quality: see choose()
    FP32 = "fp32"  # full precision, on any engine and device
    BF16 = "bf16"  # torch on the CPU (emulated, and slower than fp32, where the CPU lacks bf16 instructions)
    FP16 = "fp16"  # torch on CUDA
    INT8 = "int8"  # ONNX Runtime on the CPU: int8 weights per channel, activations quantised per batch

    @property
    def family(self) -> str:
        """Vectors of one family are interchangeable in an index (bf16 and fp16 are within 1e-4 cosine of
        fp32); int8 moves them by about 1e-2, enough to reorder close results."""
        return "int8" if self == Precision.INT8 else "float"


# The CPU default of ONNX Runtime: fp32. int8 (1.7x less CPU when indexing) kept the benchmarks within the bar
# set for it (README, "Precision and speed": SciFact test hybrid nDCG@10 -0.0009, JSQuAD MRR@10 -0.0027; the bar
# is 0.005), but in dense mode it no longer finds a passage first from twelve of its own words
# (tests/search/test_search_quality.py), which fp32 and bf16 do: it stays a choice, --precision int8.
ONNX_DEFAULT = Precision.FP32
# On a CPU that computes bf16 natively, with the torch extra installed, auto indexes in torch's bf16: 1.25x the
# tokens per CPU-second of ONNX Runtime's fp32 there, vectors within 1e-4 cosine of fp32 (README).
TORCH_BF16_FIRST = True


@dataclass(frozen=True)
class Arithmetic:
    """A resolved choice: never AUTO. What an index records of how its vectors were made."""

    engine: Engine
    device: str  # "cpu", "cuda", "cuda:1", "mps"
    precision: Precision


def parse_engine(value: Engine | str) -> Engine:
    try:
        return Engine(value)
    except ValueError:  # a hand-edited settings file
        raise UserFacingError(f"Unknown engine {value!r}; use one of {', '.join(e.value for e in Engine)}.") from None


def parse_precision(value: Precision | str) -> Precision:
    try:
        return Precision(value)
    except ValueError:  # a hand-edited settings file
        raise UserFacingError(f"Unknown precision {value!r}; use one of {', '.join(p.value for p in Precision)}.") from None


def require_torch(why: str) -> None:
    """Raise the message that says how to get torch, when it is not installed."""
    if not torch_installed():
        raise UserFacingError(f"{why} needs the torch extra: {TORCH_EXTRA}")


def choose(engine: Engine | str = Engine.AUTO, device: str = "auto",
           precision: Precision | str = Precision.AUTO) -> Arithmetic:
    """The engine, device and precision to run, from what was asked and what this computer has.

    ``auto`` engine: a GPU when torch is installed and finds one (fp16 on
    CUDA, fp32 on MPS); on a CPU, torch bf16 where the CPU computes bf16
    natively and torch is installed (measured faster there), else ONNX
    Runtime at :data:`ONNX_DEFAULT`; ``--engine torch`` on a CPU runs bf16
    where the CPU computes it, else fp32. An explicit choice is honoured or
    refused with what to do instead; torch is imported only to look for a
    GPU when one may be there and torch is the only engine that could use it.
    """
    engine, precision = parse_engine(engine), parse_precision(precision)
    device = device or "auto"
    if device not in ("auto", "cpu"):
        return _gpu(engine, device, precision)
    if device == "auto" and engine != Engine.ONNX and precision in (Precision.AUTO, Precision.FP32, Precision.FP16) \
            and torch_installed() and gpu_possible():
        found = torch_gpu()
        if found != "cpu":
            return _gpu(engine, found, precision)
    if precision == Precision.FP16:
        raise UserFacingError("fp16 runs on NVIDIA GPUs (--device cuda); on a CPU use fp32, bf16 or int8.")
    if precision == Precision.INT8:
        if engine == Engine.TORCH:
            raise UserFacingError("int8 runs on ONNX Runtime: use --engine onnx (or auto) with --precision int8.")
        return Arithmetic(Engine.ONNX, "cpu", Precision.INT8)
    if precision == Precision.BF16:
        if engine == Engine.ONNX:
            raise UserFacingError("ONNX Runtime has no bf16 on the CPU: use --engine torch with --precision bf16, "
                                  "or fp32 or int8 with ONNX Runtime.")
        require_torch("bf16")
        return Arithmetic(Engine.TORCH, "cpu", Precision.BF16)
    if engine == Engine.TORCH:
        require_torch("--engine torch")
        bf16 = precision == Precision.AUTO and cpu_features().native_bf16
        return Arithmetic(Engine.TORCH, "cpu", Precision.BF16 if bf16 else Precision.FP32)
    if precision == Precision.AUTO:
        if engine == Engine.AUTO and TORCH_BF16_FIRST and cpu_features().native_bf16 and torch_installed():
            return Arithmetic(Engine.TORCH, "cpu", Precision.BF16)
        return Arithmetic(Engine.ONNX, "cpu", ONNX_DEFAULT)
    return Arithmetic(Engine.ONNX, "cpu", Precision.FP32)


def _gpu(engine: Engine, device: str, precision: Precision) -> Arithmetic:
    if engine == Engine.ONNX:
        raise UserFacingError(f"ONNX Runtime runs on the CPU here: --device {device} needs --engine torch (or auto).")
    require_torch(f"--device {device}")
    if precision in (Precision.INT8, Precision.BF16):
        raise UserFacingError(f"{precision} runs on the CPU; on --device {device} use fp32, or auto "
                              "(fp16 on CUDA, fp32 on MPS).")
    cuda = device.startswith("cuda")
    if precision == Precision.FP16 and not cuda:
        raise UserFacingError("fp16 runs on NVIDIA GPUs (--device cuda); on MPS use fp32 or auto.")
    fp16 = cuda and precision != Precision.FP32
    return Arithmetic(Engine.TORCH, device, Precision.FP16 if fp16 else Precision.FP32)


def _families(recorded: str | None) -> set[str]:
    """The precision families of an index's record (``embedding_precision``: "fp32", "bf16,fp32", "unknown")."""
    known = {p.value: p for p in Precision}
    return {known[p].family for p in (recorded or "").split(",") if p in known and p != Precision.AUTO}


# With precision auto, what a query is embedded in for an index of int8 vectors (README, "Precision and speed").
QUERY_PRECISION_FOR_INT8 = Precision.INT8


def follow_index(requested: Precision | str, recorded: str | None, query: bool, engine: Engine | str = Engine.AUTO,
                 device: str = "auto") -> tuple[Precision, str | None]:
    """The precision to embed in for an index whose vectors were made in ``recorded``, and a one-line note
    when the two differ in family.

    ``auto`` follows the index: an int8 index goes on in int8 (and its
    queries in :data:`QUERY_PRECISION_FOR_INT8`), a float one in the fastest
    float arithmetic here (fp32 where auto would take int8), and its queries
    in fp32, which any float index matches to 1e-4 and which ONNX Runtime
    starts fastest; a new index takes the fastest arithmetic here. An
    explicit precision is honoured, with the note.
    """
    requested = parse_precision(requested)
    families = _families(recorded)
    if requested == Precision.AUTO:
        if families == {"int8"}:
            return (QUERY_PRECISION_FOR_INT8 if query else Precision.INT8), None
        if query:
            return Precision.FP32, None
        if families and choose(engine, device, Precision.AUTO).precision == Precision.INT8:
            return Precision.FP32, None
        return Precision.AUTO, None
    if not families or requested.family in families:
        return requested, None
    made = "int8" if families == {"int8"} else "float (fp32, bf16 or fp16)"
    what = "Queries are" if query else "New passages are"
    return requested, (f"{what} embedded in {requested}, but this index's vectors were made in {made}: rankings "
                       "may differ slightly from a single-precision index (`index --rebuild` makes them one).")


class DeviceOutOfMemoryError(Exception):
    """A batch did not fit in the device's memory; the embedder retries it in smaller batches."""


class Runner(Protocol):
    """The seam between the :class:`~desktop_search.embed.embedder.Embedder` and an engine.

    The embedder tokenizes, sorts by length, batches under the token budget
    and pads, in one place for every engine; a runner only runs one padded
    batch: ``ids`` and ``mask`` (int64, [batch, width], right-padded) in,
    pooled and L2-normalised vectors out.
    """

    @property
    def arithmetic(self) -> Arithmetic: ...

    @property
    def name(self) -> str:
        """The device, engine and precision in words, for the status bar: "CPU (2 threads) · ONNX Runtime fp32"."""
        ...

    @property
    def token_budget(self) -> int:
        """Tokens per batch that suit the device (the embedder halves it after a :class:`DeviceOutOfMemoryError`)."""
        ...

    @property
    def deferred(self) -> bool:
        """Whether :meth:`run`'s results stay on the device until :meth:`fetch` (CUDA: the CPU pads the next
        batch while the GPU runs this one), so the embedder fetches them after the last batch."""
        ...

    def run(self, ids: np.ndarray, mask: np.ndarray, small: bool) -> Any:
        """The batch's vectors, or a handle for :meth:`fetch`. ``small``: a typed query's few tokens,
        which run fastest on one CPU thread. Raises :class:`DeviceOutOfMemoryError`."""
        ...

    def fetch(self, out: Any) -> np.ndarray:
        """float32 [batch, dim] of what :meth:`run` returned."""
        ...

    def free_memory(self) -> None:
        """Give cached device memory back after a :class:`DeviceOutOfMemoryError`."""
        ...


def cpu_name(threads: int) -> str:
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"


def describe(arithmetic: Arithmetic, device: str) -> str:
    """The status bar's words for an engine at work: "CPU (2 threads) · ONNX Runtime fp32"."""
    return f"{device} · {arithmetic.engine.label} {arithmetic.precision}"
