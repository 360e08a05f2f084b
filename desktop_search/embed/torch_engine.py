"""The torch engine (the optional extra ``desktop-search[torch]``): CUDA, Apple's MPS, bf16 on the CPU.

Plain BERTs run through :mod:`~desktop_search.embed.encoder` (torch alone);
any other model through transformers' ``AutoModel``. Importing this module
imports torch, so only :func:`~desktop_search.embed.engine.choose` (to look
for a GPU) and :func:`~desktop_search.embed.embedder.load_runner` do, once
torch is the engine.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from desktop_search.embed.encoder import load_plain_bert
from desktop_search.embed.engine import Arithmetic, DeviceOutOfMemoryError, Precision, cpu_name, describe
from desktop_search.embed.hardware import torch_gpu
from desktop_search.embed.models import ModelSpec

logger = logging.getLogger(__name__)

TOKEN_BUDGET = {"cpu": 8192, "mps": 16384, "cuda": 65536}


def pick_device(requested: str = "auto") -> str:
    """cuda, then mps, then cpu; an explicit choice is honoured as given."""
    if requested and requested != "auto":
        return requested
    return torch_gpu()


def device_name(device: str, threads: int) -> str:
    """A human name for the device: the GPU's name, or the CPU."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    if device == "mps":
        return "Apple GPU (MPS)"
    return cpu_name(threads)


def load_with_transformers(spec: ModelSpec, dtype: Any) -> Any:
    """Any other model, through transformers' ``AutoModel`` (2-3 s more of imports than a plain BERT)."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    kwargs: dict[str, Any] = {"local_files_only": True, "dtype": dtype}
    try:
        model = AutoModel.from_pretrained(str(spec.path), attn_implementation="sdpa", **kwargs)
    except (ValueError, ImportError):  # architectures without SDPA support
        model = AutoModel.from_pretrained(str(spec.path), **kwargs)
    return model.eval()


def pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Mean, CLS or max pooling over the tokens the attention mask keeps."""
    if mode == "cls":
        return hidden[:, 0]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "max":
        return hidden.masked_fill(m == 0, float("-inf")).max(dim=1).values
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)


@contextmanager
def _cpu_threads(n: int | None) -> Iterator[None]:
    """Run the block on ``n`` intra-op threads (None: leave as set)."""
    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _out_of_memory_errors() -> tuple[type[BaseException], ...]:
    """torch's device out-of-memory error (CUDA, and MPS in recent torch)."""
    error = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError  # the former since torch 2.5
    return (error,)


class TorchRunner:
    """Runs padded batches of one model through torch (see :class:`~desktop_search.embed.engine.Runner`)."""

    def __init__(self, spec: ModelSpec, arithmetic: Arithmetic, threads: int) -> None:
        self.arithmetic = arithmetic
        self.spec = spec
        self.device = arithmetic.device
        if self.device == "cpu":
            torch.set_num_threads(threads)
            if arithmetic.precision == Precision.BF16 and not _native_bf16():
                logger.warning("This CPU has no bf16 instructions: bf16 is emulated, and slower than fp32")
        dtype = torch.float16 if arithmetic.precision == Precision.FP16 else torch.float32
        model = load_plain_bert(Path(spec.path), dtype) or load_with_transformers(spec, dtype)
        self.model = model.to(self.device)
        self.deferred = self.device.startswith("cuda")
        self.token_budget = TOKEN_BUDGET.get(self.device.split(":")[0], 8192)
        self.name = describe(arithmetic, device_name(self.device, threads))

    def run(self, ids: np.ndarray, mask: np.ndarray, small: bool) -> Any:
        """Pooled, L2-normalised fp32 vectors of one padded batch: on the device when deferred, else numpy.

        On CUDA the batch is copied from pinned memory without blocking and
        the result stays on the GPU, so the CPU pads the next batch meanwhile.
        """
        input_ids, attention = torch.from_numpy(ids), torch.from_numpy(mask)
        if self.deferred:
            input_ids, attention = input_ids.pin_memory(), attention.pin_memory()
        input_ids = input_ids.to(self.device, non_blocking=True)
        attention = attention.to(self.device, non_blocking=True)
        failed = None
        with torch.inference_mode(), _cpu_threads(1 if small and self.device == "cpu" else None):
            try:
                vecs = self._forward(input_ids, attention)
            except _out_of_memory_errors() as exc:
                failed = str(exc).split("\n", 1)[0]
        if failed is not None:
            # Raised outside the handler: its traceback pinned the failed forward's activations.
            raise DeviceOutOfMemoryError(failed)
        return vecs if self.deferred else vecs.cpu().numpy()

    def _forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        bf16 = self.arithmetic.precision == Precision.BF16
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
            hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        return torch.nn.functional.normalize(pool(hidden.float(), mask, self.spec.pooling), p=2, dim=1)

    def fetch(self, out: Any) -> np.ndarray:
        return out if isinstance(out, np.ndarray) else out.cpu().numpy()

    def free_memory(self) -> None:
        """Give the allocator's cached blocks back so a smaller batch can use them."""
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()
        elif self.device == "mps":
            torch.mps.empty_cache()


def _native_bf16() -> bool:
    """torch's own view of the CPU, asked once torch is the engine (the choice itself read the CPU's flags)."""
    try:
        caps = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):  # an older torch, or a platform that cannot tell: no warning
        return True
    return bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))
