"""What a query should not pay for: costs met once, paid when the query model loads.

On a GPU each new query length is a new shape, and the first forward of a
shape pays for it: kernels loaded on first use (CUDA's lazy module loading),
GEMM and attention kernels chosen for the shape, blocks the caching allocator
has not cut yet. Searches met that one query in twenty (a p95 of 70-78 ms
against a p50 of 10 ms on an H200): the model now runs every length a query
is likely to have once, at load.

Everywhere, the first model and the libraries loaded with it (some 200,000
objects, torch's and transformers' included) live as long as the process.
Python's cyclic garbage collector walks them all on each full collection
(270-310 ms on the shared 2-core machine), which lands on whichever query
happens to allocate at that moment; frozen (:func:`gc.freeze`, once a
process), they are left out of every later collection.
"""
from __future__ import annotations

import gc
import logging
import time
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the model module sets offline defaults when imported; only its interface is needed here
    from desktop_search.embed.embedder import TextEmbedder

logger = logging.getLogger(__name__)

# Query lengths warmed on a GPU: 1 to this many words (plus the prefix and special tokens).
WARM_QUERY_WORDS = 64
_settled: weakref.WeakSet[object] = weakref.WeakSet()


def settle(embedder: TextEmbedder) -> None:
    """Run each query length once on a GPU (once a model); leave what is loaded out of garbage collection (once a process)."""
    if embedder in _settled:
        return
    _settled.add(embedder)
    if not embedder.device.startswith("cpu"):
        t0 = time.perf_counter()
        for words in range(1, WARM_QUERY_WORDS + 1):
            embedder.encode_queries(["a" + " a" * (words - 1)])
        logger.info("Ran %d query lengths on %s in %.2f s", WARM_QUERY_WORDS, embedder.device, time.perf_counter() - t0)
    if not gc.get_freeze_count():
        gc.freeze()
