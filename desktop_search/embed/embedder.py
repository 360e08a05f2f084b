"""Texts to L2-normalised vectors, on whichever engine :func:`~desktop_search.embed.engine.choose` picks.

The :class:`Embedder` does what every engine needs done the same way, in one
place: tokenizing, sorting by length, batching under a token budget, padding
(in numpy), halving the budget when a batch does not fit the device, and
counting the seconds. An engine (a :class:`~desktop_search.embed.engine.Runner`)
only runs a padded batch. The engines load lazily, so neither onnxruntime
nor torch is imported before an Embedder is built, and torch only when it
is the engine.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from desktop_search.embed.engine import (
    Arithmetic,
    DeviceOutOfMemoryError,
    Engine,
    Precision,
    Runner,
    choose,
    parse_engine,
    parse_precision,
    require_torch,
)
from desktop_search.embed.hardware import cpu_cores
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

# At most this many tokens in one call (a typed query) run on one CPU thread:
# the forward is too small to split, and waiting for a second thread that
# another program has taken is what makes a query slow. Measured on the shared
# 2-core machine: one query in 17 ms on one thread, 50-140 ms on two.
SMALL_TOKENS = 128

__all__ = ["SMALL_TOKENS", "Embedder", "Engine", "InputIds", "Precision", "TextEmbedder", "load_runner", "pad_batch"]


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
    def engine(self) -> Engine:
        """What runs the model (never AUTO): recorded in the index with the precision."""
        ...

    @property
    def precision(self) -> Precision:
        """The arithmetic it runs in (never AUTO)."""
        ...

    @property
    def name(self) -> str:
        """The device, engine and precision in words, for the status bar."""
        ...

    @property
    def timings(self) -> dict[str, float]:
        """Seconds spent tokenizing and padding, and in the forward pass, summed over calls."""
        ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_passages(self, texts: Sequence[str], ids: Sequence[InputIds | None] | None = None) -> np.ndarray:
        """Vectors of passages; ``ids``, where given, are each passage's model input as the extraction
        workers made it (see :meth:`Embedder.encode_passages`), so it need not be tokenized again."""
        ...


def load_runner(spec: ModelSpec, engine: Engine | str = Engine.AUTO, device: str = "auto",
                precision: Precision | str = Precision.AUTO, threads: int | None = None) -> Runner:
    """The engine :func:`~desktop_search.embed.engine.choose` picks for the request, loaded with ``spec``'s weights.

    A model ONNX Runtime cannot run (not a plain BERT: all-mpnet-base-v2)
    goes to torch when the engine was left to ``auto`` and torch is there;
    otherwise the message says what to install or choose.
    """
    engine, precision = parse_engine(engine), parse_precision(precision)
    arithmetic = choose(engine, device, precision)
    threads = threads or cpu_cores()
    if arithmetic.engine == Engine.ONNX:
        from desktop_search.embed.onnx_engine import load_onnx

        onnx = load_onnx(spec, arithmetic.precision, threads)
        if onnx is not None:
            return onnx
        why = f"{spec.id} is not a plain BERT, the only kind ONNX Runtime runs here"
        if engine == Engine.ONNX or precision == Precision.INT8:  # asked for in so many words
            raise UserFacingError(f"{why}: use --engine auto or torch, with --precision auto or fp32 "
                                  "(torch has no int8).")
        require_torch(f"{why}; it")
        arithmetic = choose(Engine.TORCH, "cpu", precision)
    from desktop_search.embed.torch_engine import TorchRunner

    return TorchRunner(spec, arithmetic, threads)


def pad_batch(rows: Sequence[Sequence[int] | np.ndarray], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded ids and their attention mask, int64 [len(rows), longest]."""
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    width = int(lengths.max(initial=0))
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
    mask = (np.arange(width) < lengths[:, None]).astype(np.int64)
    return ids, mask


def load_tokenizer(spec: ModelSpec) -> Any:
    from desktop_search.embed.tokenizer import load_model_tokenizer

    tok = load_model_tokenizer(spec.path)
    tok.model_max_length = spec.max_tokens
    return tok


class Embedder:
    """Encodes texts to L2-normalised vectors with the spec's pooling, on the chosen engine."""

    def __init__(
        self,
        spec: ModelSpec,
        device: str = "auto",
        token_budget: int | None = None,
        threads: int | None = None,
        precision: Precision | str = Precision.AUTO,
        engine: Engine | str = Engine.AUTO,
    ) -> None:
        self.spec = spec
        self.runner = load_runner(spec, engine, device, precision, threads)
        self.tokenizer = load_tokenizer(spec)
        # Padding never reaches a vector (the mask keeps it out of attention and pooling): any id will do.
        self.pad_id = int(getattr(self.tokenizer, "pad_token_id", None) or 0)
        self.token_budget = token_budget or self.runner.token_budget
        self._lock = threading.Lock()  # one forward at a time per model
        # Seconds spent so far, for benchmarks and the index report.
        self.timings: dict[str, float] = {"tokenize": 0.0, "forward": 0.0}
        logger.info("Loaded %s: %s", spec.id, self.name)

    @property
    def arithmetic(self) -> Arithmetic:
        return self.runner.arithmetic

    @property
    def engine(self) -> Engine:
        return self.arithmetic.engine

    @property
    def device(self) -> str:
        return self.arithmetic.device

    @property
    def precision(self) -> Precision:
        return self.arithmetic.precision

    @property
    def name(self) -> str:
        return self.runner.name

    @property
    def dim(self) -> int:
        return self.spec.dim

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``query_prefix`` + each text. In int8 each query runs alone: activations are quantised
        per batch, so a query's vector would depend on the queries beside it (`search --queries` would rank
        differently from the same query typed)."""
        queries = [self.spec.query_prefix + t for t in texts]
        if self.precision == Precision.INT8 and len(queries) > 1:
            return np.concatenate([self.encode([q]) for q in queries])
        return self.encode(queries)

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
        """Embed ``texts`` (``ids``: see :meth:`encode_passages`), each cut to the model's window."""
        t0 = time.perf_counter()
        inputs = self._input_ids(texts, ids)
        self.timings["tokenize"] += time.perf_counter() - t0
        return self.encode_ids(inputs)

    def _input_ids(self, texts: Sequence[str], ids: Sequence[InputIds | None] | None = None) -> list[InputIds]:
        """Each text's model input: the given ids where this embedder can take them, else tokenized
        (with the special tokens, cut to the model's window)."""
        if ids is not None and len(ids) != len(texts):
            raise ValueError(f"{len(ids)} inputs for {len(texts)} texts")
        given: list[InputIds | None] = (
            list(ids) if ids is not None and isinstance(self.tokenizer, FastTokenizer) else [None] * len(texts))
        todo = [i for i, x in enumerate(given) if x is None]
        if todo:
            enc = self.tokenizer([texts[i] for i in todo], truncation=True, max_length=self.spec.max_tokens,
                                 padding=False)
            for i, x in zip(todo, enc["input_ids"], strict=True):
                given[i] = x
        return [x for x in given if x is not None]

    def encode_ids(self, inputs: Sequence[InputIds]) -> np.ndarray:
        """Embed model inputs in length-sorted batches under the token budget.

        A batch the device has no memory for halves the budget (for the rest
        of the run: a budget too large for the card costs one failed batch,
        not a failed index) and runs again in smaller batches.
        """
        out = np.zeros((len(inputs), self.dim), dtype=np.float32)
        if not inputs:
            return out
        order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]), reverse=True)
        small = self.device == "cpu" and sum(len(x) for x in inputs) <= SMALL_TOKENS
        pad = forward = 0.0
        with self._lock:
            pending: list[tuple[list[int], Any]] = []
            start = 0
            while start < len(order):
                t0 = time.perf_counter()
                longest = max(len(inputs[order[start]]), 1)
                batch = order[start : start + max(1, self.token_budget // longest)]
                ids, mask = pad_batch([inputs[i] for i in batch], self.pad_id)
                t1 = time.perf_counter()
                pad += t1 - t0
                try:
                    vecs = self.runner.run(ids, mask, small)
                except DeviceOutOfMemoryError as exc:
                    if len(batch) == 1:
                        raise UserFacingError(f"Not even one passage fits in the memory of {self.name} ({exc}); "
                                              "use --device cpu.") from None
                    self._shrink_budget(len(batch) * longest, str(exc))
                    self.runner.free_memory()
                    forward += time.perf_counter() - t1
                    continue  # the same passages again, in smaller batches
                start += len(batch)
                if self.runner.deferred:
                    pending.append((batch, vecs))
                else:
                    out[batch] = self.runner.fetch(vecs)
                forward += time.perf_counter() - t1
            t1 = time.perf_counter()
            for batch, vecs in pending:
                out[batch] = self.runner.fetch(vecs)
            forward += time.perf_counter() - t1
        self.timings["tokenize"] += pad
        self.timings["forward"] += forward
        return out

    def _shrink_budget(self, failed_tokens: int, reason: str) -> None:
        before = self.token_budget
        self.token_budget = max(1, min(before, failed_tokens) // 2)
        logger.warning("Out of memory on %s with a batch of %d tokens (token budget %d); "
                       "going on with a token budget of %d (%s)", self.name, failed_tokens, before,
                       self.token_budget, reason)
