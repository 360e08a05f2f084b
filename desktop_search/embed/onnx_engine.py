"""The ONNX Runtime engine: a plain BERT's graph (:mod:`~desktop_search.embed.bert_graph`) on the CPU.

Imports numpy and onnxruntime (0.2 s), never torch or ``onnx``. The graph is
built from config.json at each start and not cached: it takes 1-7 ms
(MiniLM to multilingual-e5), less than checking a cached copy against the
model would, and a cache that does not exist cannot be stale, corrupt or
half-written. The weights come from the model's ``model.safetensors`` each
time too, so a model replaced on disk is simply what runs next.

Two sessions share the weights' arrays: one on every core for indexing, and
one on a single thread for a typed query (a few dozen tokens, which a second
thread only slows down when other programs hold the cores); each is made
when first needed.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from desktop_search.embed.bert_graph import (
    MASK,
    OUTPUT,
    WORDS,
    BertConfig,
    GraphOptions,
    UnsupportedModelError,
    Weights,
    build_graph,
    load_weights,
)
from desktop_search.embed.engine import Arithmetic, Engine, Precision, cpu_name, describe
from desktop_search.embed.hardware import cpu_features
from desktop_search.embed.models import ModelSpec

logger = logging.getLogger(__name__)

TOKEN_BUDGET = 8192  # tokens per batch: larger batches were no faster on the CPU, and pad more
# The matrices an int8 graph keeps in fp32 (bert_graph.MATRICES' names). Empty: all int8, the fastest; see
# README, "Precision and speed", for what each variant costs in retrieval quality.
INT8_FP32_MATRICES: tuple[str, ...] = ()


class OnnxRunner:
    """Runs padded batches of one model through ONNX Runtime (see :class:`~desktop_search.embed.engine.Runner`)."""

    deferred = False

    def __init__(self, spec: ModelSpec, precision: Precision, threads: int) -> None:
        """Raises :class:`~desktop_search.embed.bert_graph.UnsupportedModelError` for a model that is not a plain BERT."""
        if precision not in (Precision.FP32, Precision.INT8):
            raise ValueError(f"ONNX Runtime runs fp32 or int8, not {precision}")
        cfg = BertConfig.read(Path(spec.path))
        self.options = GraphOptions(pooling=spec.pooling, int8=precision == Precision.INT8,
                                    fp32_matrices=INT8_FP32_MATRICES, reduce_range=not cpu_features().int8_dot)
        model, placeholders = build_graph(cfg, self.options)
        self.weights: Weights = load_weights(Path(spec.path), cfg, self.options)
        if {t.name for t in placeholders} != set(self.weights.graph):  # a builder bug, not the user's
            raise AssertionError("the graph's weights and the prepared weights differ")
        self._graph = model.encode()
        self.arithmetic = Arithmetic(Engine.ONNX, "cpu", precision)
        self.threads = threads
        self.token_budget = TOKEN_BUDGET
        self.name = describe(self.arithmetic, cpu_name(threads))
        self._sessions: dict[int, Any] = {}
        self._session_lock = threading.Lock()
        self._values: list[Any] = []  # the OrtValues handed to the sessions, kept as long as they are

    def _session(self, threads: int) -> Any:
        with self._session_lock:
            if threads not in self._sessions:
                self._sessions[threads] = self._make_session(threads)
            return self._sessions[threads]

    def _make_session(self, threads: int) -> Any:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3  # errors only: ORT's warnings are about its optimiser, not the user's files
        # Idle pool threads sleep rather than spin, as OMP_WAIT_POLICY=PASSIVE asks of torch: spinning gained
        # nothing here and burns cores that other programs share.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        names = list(self.weights.graph)
        values = [ort.OrtValue.ortvalue_from_numpy(a) for a in self.weights.graph.values()]
        so.add_external_initializers(names, values)
        self._values.extend(values)
        session = ort.InferenceSession(self._graph, sess_options=so, providers=["CPUExecutionProvider"])
        logger.debug("ONNX Runtime session on %d thread(s) for %s", threads, self.options)
        return session

    def run(self, ids: np.ndarray, mask: np.ndarray, small: bool) -> np.ndarray:
        session = self._session(1 if small else self.threads)
        out: np.ndarray = session.run([OUTPUT], {WORDS: self.weights.words(ids), MASK: mask})[0]
        return out

    def fetch(self, out: np.ndarray) -> np.ndarray:
        return out

    def free_memory(self) -> None:
        """Nothing to free: the CPU's memory is not a device cache."""


def load_onnx(spec: ModelSpec, precision: Precision, threads: int) -> OnnxRunner | None:
    """The ONNX Runtime runner for ``spec``, or None (logged) when the model is not a plain BERT."""
    try:
        return OnnxRunner(spec, precision, threads)
    except UnsupportedModelError as exc:
        logger.info("%s", exc)
        return None
