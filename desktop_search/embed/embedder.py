"""Sentence embeddings with a plain ``transformers`` AutoModel.

torch is imported when an :class:`Embedder` is built, never at module import,
so the GUI window and no-change rescans start without it.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from desktop_search.embed.models import ModelSpec
from desktop_search.embed.tokenizer import FastTokenizer
from desktop_search.errors import UserFacingError

logger = logging.getLogger(__name__)

InputIds = Sequence[int] | np.ndarray
"""A passage's model input: its token ids with the special tokens, cut to the model's window."""

# Never reach for the network: the model is on disk or we say how to get it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Idle OpenMP threads sleep instead of spinning. Spinning wins a little on an
# otherwise idle machine but, on a desktop sharing its cores with other
# programs, a descheduled spinning thread stalls every parallel region: on the
# shared 2-core test machine a one-line query took 150-550 ms instead of ~80 ms.
# Read when torch is first imported, which this module does lazily.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class TextEmbedder(Protocol):
    """The seam between the model and its users (indexer, searcher, GUI workers).

    :class:`Embedder` is the implementation; tests and benchmarks wrap it
    (counting, caching, failing) behind this interface.
    """

    @property
    def spec(self) -> ModelSpec: ...

    @property
    def device(self) -> str: ...

    @property
    def precision(self) -> Precision:
        """The arithmetic it runs in, resolved for its device (never AUTO on a CPU)."""
        ...

    @property
    def name(self) -> str:
        """The device in words, for the status bar."""
        ...

    @property
    def timings(self) -> dict[str, float]:
        """Seconds spent tokenizing and in the forward pass, summed over calls."""
        ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_passages(self, texts: Sequence[str], ids: Sequence[InputIds | None] | None = None) -> np.ndarray:
        """Vectors of passages; ``ids``, where given, are each passage's model input as the extraction
        workers made it (see :meth:`Embedder.encode_passages`), so it need not be tokenized again."""
        ...


class Precision(StrEnum):
    """The arithmetic the model runs in (setting ``precision``, option ``--precision``)."""

    AUTO = "auto"  # bf16 on a CPU that computes it natively, fp16 on CUDA, else fp32
    FP32 = "fp32"  # full precision everywhere (slower; for checking)
    BF16 = "bf16"  # bf16 on the CPU even without native support (emulated: slower than fp32)


DEFAULT_TOKEN_BUDGET = {"cpu": 8192, "mps": 16384, "cuda": 65536}
# At most this many tokens in one call (a typed query) run on one CPU thread:
# the forward is too small to split, and waiting for a second thread that
# another program has taken is what makes a query slow. Measured on the shared
# 2-core machine: one query in 17 ms on one thread, 50-140 ms on two.
SMALL_TOKENS = 128


def cpu_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not on macOS or Windows
        return os.cpu_count() or 1


def pick_device(requested: str = "auto") -> str:
    """cuda, then mps, then cpu; an explicit choice is honoured as given."""
    import torch

    if requested and requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def device_name(device: str) -> str:
    """A human name for the device: the GPU's name, or the CPU."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    if device == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({os.cpu_count()} threads)"


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX).

    There the forward runs about 1.9x faster under bf16 autocast, with vectors
    within 1e-4 cosine of fp32 (``benchmarks/eval_precision.py``); elsewhere
    bf16 is emulated and slower than fp32.
    """
    import torch

    try:
        caps = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):  # an older torch, or a platform that cannot tell
        return False
    return bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))


def resolve_precision(requested: Precision | str, device: str) -> Precision:
    """What ``requested`` means on ``device``: FP32 or BF16 on a CPU; on a GPU
    AUTO stays AUTO (fp16 weights on CUDA, fp32 on MPS)."""
    try:
        requested = Precision(requested)
    except ValueError:  # a hand-edited settings file
        choices = ", ".join(p.value for p in Precision)
        raise UserFacingError(f"Unknown precision {requested!r}; use one of {choices}.") from None
    if device != "cpu":
        return Precision.FP32 if requested == Precision.FP32 else Precision.AUTO
    if requested == Precision.AUTO:
        return Precision.BF16 if cpu_has_native_bf16() else Precision.FP32
    return requested


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


def load_tokenizer(spec: ModelSpec) -> Any:
    from desktop_search.embed.tokenizer import load_model_tokenizer

    tok = load_model_tokenizer(spec.path)
    tok.model_max_length = spec.max_tokens
    return tok


class Embedder:
    """Encodes texts to L2-normalised vectors with the spec's pooling."""

    def __init__(
        self,
        spec: ModelSpec,
        device: str = "auto",
        token_budget: int | None = None,
        quantize: bool = False,
        threads: int | None = None,
        precision: Precision | str = Precision.AUTO,
    ) -> None:
        import torch

        from desktop_search.embed.encoder import load_plain_bert

        self.spec = spec
        self.device = pick_device(device)
        if self.device == "cpu":
            torch.set_num_threads(threads or cpu_cores())
        self.tokenizer = load_tokenizer(spec)
        # int8 quantisation replaces the Linear layers bf16 would speed up.
        self.precision = Precision.FP32 if quantize else resolve_precision(precision, self.device)
        cuda_fp16 = self.device.startswith("cuda") and self.precision != Precision.FP32
        dtype = torch.float16 if cuda_fp16 else torch.float32
        model = load_plain_bert(Path(spec.path), dtype) or load_with_transformers(spec, dtype)
        if quantize and self.device == "cpu":
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self.model = model.to(self.device)
        self.token_budget = token_budget or DEFAULT_TOKEN_BUDGET.get(self.device.split(":")[0], 8192)
        self.name = device_name(self.device) + (" · bf16" if self.precision == Precision.BF16 else "")
        self._lock = threading.Lock()  # one forward at a time per model
        # Seconds spent so far, for benchmarks and the index report.
        self.timings: dict[str, float] = {"tokenize": 0.0, "forward": 0.0}
        logger.info("Loaded %s on %s (%s)", spec.id, self.device, self.name)

    @property
    def dim(self) -> int:
        return self.spec.dim

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode([self.spec.query_prefix + t for t in texts])

    def encode_passages(self, texts: Sequence[str], ids: Sequence[InputIds | None] | None = None) -> np.ndarray:
        """Vectors of ``passage_prefix`` + each text.

        ``ids``: per passage, its model input when the caller has it (the
        extraction workers make it with the model's ``tokenizer.json``:
        ``ChunkJob.input_max_tokens``), or None. Such a passage is only padded,
        not tokenized again, where this embedder tokenizes with that same
        file (:class:`FastTokenizer`); otherwise every text is tokenized.
        """
        return self.encode([self.spec.passage_prefix + t for t in texts], ids)

    def encode(self, texts: Sequence[str], ids: Sequence[InputIds | None] | None = None) -> np.ndarray:
        """Embed ``texts`` (``ids``: see :meth:`encode_passages`) in length-sorted batches under the token budget.

        On CUDA, batches are copied from pinned memory without blocking and the
        results stay on the GPU until the end, so the CPU pads the next batch
        while the GPU runs this one.
        """
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        t0 = time.perf_counter()
        inputs = self._input_ids(texts, ids)
        order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]), reverse=True)
        cuda = self.device.startswith("cuda")
        tokenize = time.perf_counter() - t0
        forward = 0.0
        small = self.device == "cpu" and sum(len(x) for x in inputs) <= SMALL_TOKENS
        with self._lock, torch.inference_mode(), _cpu_threads(1 if small else None):
            done: list[tuple[list[int], Any]] = []
            start = 0
            while start < len(order):
                t0 = time.perf_counter()
                longest = max(len(inputs[order[start]]), 1)
                size = max(1, self.token_budget // longest)
                batch = order[start : start + size]
                padded = self.tokenizer.pad({"input_ids": [inputs[i] for i in batch]}, return_tensors="pt")
                input_ids, mask = padded["input_ids"], padded["attention_mask"]
                if cuda:
                    input_ids, mask = input_ids.pin_memory(), mask.pin_memory()
                t1 = time.perf_counter()
                tokenize += t1 - t0
                input_ids = input_ids.to(self.device, non_blocking=True)
                mask = mask.to(self.device, non_blocking=True)
                try:
                    vecs = self._forward(input_ids, mask)
                except _out_of_memory_errors() as exc:
                    if len(batch) == 1:
                        raise  # not even one passage fits: nothing smaller to try
                    self._shrink_budget(len(batch) * longest, exc)
                    vecs = None
                if vecs is None:
                    # Outside the handler: its traceback pinned the failed forward's activations.
                    _free_device_cache(self.device)
                    forward += time.perf_counter() - t1
                    continue  # the same passages again, in smaller batches
                start += len(batch)
                if cuda:
                    done.append((batch, vecs))
                else:
                    out[batch] = vecs.cpu().numpy()
                forward += time.perf_counter() - t1
            t1 = time.perf_counter()
            for batch, vecs in done:
                out[batch] = vecs.cpu().numpy()
            forward += time.perf_counter() - t1
        self.timings["tokenize"] += tokenize
        self.timings["forward"] += forward
        return out

    def _input_ids(self, texts: Sequence[str], ids: Sequence[InputIds | None] | None) -> list[InputIds]:
        """Each text's model input: the given ids where this embedder can take them, else tokenized."""
        if ids is not None and len(ids) != len(texts):
            raise ValueError(f"{len(ids)} inputs for {len(texts)} texts")
        given: list[InputIds | None] = (
            list(ids) if ids is not None and isinstance(self.tokenizer, FastTokenizer) else [None] * len(texts))
        todo = [i for i, x in enumerate(given) if x is None]
        if todo:
            enc = self.tokenizer([texts[i] for i in todo], truncation=True, max_length=self.spec.max_tokens, padding=False)
            for i, x in zip(todo, enc["input_ids"], strict=True):
                given[i] = x
        return [x for x in given if x is not None]

    def _forward(self, input_ids: Any, mask: Any) -> Any:
        """Pooled, L2-normalised fp32 vectors of one padded batch."""
        import torch

        bf16 = self.precision == Precision.BF16
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
            hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        return torch.nn.functional.normalize(pool(hidden.float(), mask, self.spec.pooling), p=2, dim=1)

    def _shrink_budget(self, failed_tokens: int, exc: BaseException) -> None:
        """Halve the token budget after a batch of ``failed_tokens`` ran out
        of device memory. It stays halved for the rest of the run: a budget
        too large for the card costs one failed batch, not a failed index."""
        before = self.token_budget
        self.token_budget = max(1, min(before, failed_tokens) // 2)
        logger.warning(
            "Out of memory on %s with a batch of %d tokens (token budget %d); "
            "going on with a token budget of %d (%s)",
            self.name, failed_tokens, before, self.token_budget, str(exc).split("\n", 1)[0],
        )


def _out_of_memory_errors() -> tuple[type[BaseException], ...]:
    """torch's device out-of-memory error (CUDA, and MPS in recent torch)."""
    import torch

    error = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError  # the former since torch 2.5
    return (error,)


def _free_device_cache(device: str) -> None:
    """Give the allocator's cached blocks back so a smaller batch can use them."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    elif device == "mps":
        torch.mps.empty_cache()


@contextmanager
def _cpu_threads(n: int | None) -> Iterator[None]:
    """Run the block on ``n`` intra-op threads (None: leave as set)."""
    import torch

    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def pool(hidden: Any, mask: Any, mode: str) -> Any:
    """Mean, CLS or max pooling over the tokens the attention mask keeps."""
    if mode == "cls":
        return hidden[:, 0]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "max":
        return hidden.masked_fill(m == 0, float("-inf")).max(dim=1).values
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)
