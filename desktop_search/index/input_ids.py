"""The model input ids the extraction workers made, held from a passage's commit until it is embedded.

The index run's text stream puts them here as it commits (chunk ids are given
out at commit), and its embed stream takes them with the passages it reads, so
the main process does not tokenize the passages again (see
:mod:`desktop_search.index.streams`).
"""
from __future__ import annotations

import bisect
import threading

import numpy as np

from desktop_search.embed.tokenizer import PassageIds

# Token ids held for passages waiting to be embedded: 32 MiB of int32, some
# 40,000 passages, far more than a GPU's embed stream lags behind; on a CPU,
# where it waits for reading to end, a larger library's later passages are
# tokenized when they are embedded.
MAX_CACHED_TOKENS = 8_000_000


class InputIdCache:
    """The model input ids of committed passages, by chunk id, until the embed stream takes them.

    One document's passages take consecutive chunk ids, so its ids are kept
    as one :class:`PassageIds` under its first chunk id; the embed stream reads
    passages oldest first, so a document it has gone past is dropped. Memory
    stays under ``max_tokens``: ids that do not fit are not kept (their
    passages are tokenized from their text). ``handed_over`` is the last
    passage whose ids are in (or will never be): the embed stream reads no
    further while reading goes on, or it would find a commit whose ids are
    not here yet and tokenize it.
    """

    def __init__(self, max_tokens: int = MAX_CACHED_TOKENS, handed_over: int = 0) -> None:
        self.max_tokens = max_tokens
        self.tokens = 0
        self.handed_over = handed_over
        self._lock = threading.Lock()
        self._firsts: list[int] = []  # ascending: commits give ever higher ids
        self._docs: dict[int, PassageIds] = {}

    def put(self, first_id: int, ids: PassageIds) -> None:
        with self._lock:
            if not len(ids) or self.tokens + ids.tokens > self.max_tokens:
                return
            bisect.insort(self._firsts, first_id)
            self._docs[first_id] = ids
            self.tokens += ids.tokens

    def take(self, chunk_ids: np.ndarray) -> list[np.ndarray | None]:
        """The ids of these passages (ascending), None where not held; forgets documents up to the last of them."""
        out: list[np.ndarray | None] = []
        with self._lock:
            for cid in chunk_ids.tolist():
                k = bisect.bisect_right(self._firsts, cid) - 1
                doc = self._docs.get(self._firsts[k]) if k >= 0 else None
                out.append(doc[cid - self._firsts[k]] if doc is not None and cid - self._firsts[k] < len(doc) else None)
            top = int(chunk_ids[-1]) if len(chunk_ids) else -1
            done = 0
            while done < len(self._firsts) and self._firsts[done] + len(self._docs[self._firsts[done]]) - 1 <= top:
                self.tokens -= self._docs.pop(self._firsts[done]).tokens
                done += 1
            del self._firsts[:done]
        return out
