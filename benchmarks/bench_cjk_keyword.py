"""One- and two-character Japanese words at 100k passages: the n-gram index against a table scan.

Builds a store of synthetic Japanese passages (words drawn from a fixed
vocabulary, Zipf-like frequencies) with tiny dummy embeddings, then times
``Store.gram_search`` (the CJK n-gram index the searcher uses) against
``Store.substring_search`` (the ``instr`` scan it used before), on the same
words, in the same run, asking for 1,000 hits as the searcher does; and
checks that both find the same passages.

    python benchmarks/bench_cjk_keyword.py --passages 100000
"""
from __future__ import annotations

import argparse
import itertools
import logging
import random
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, machine_note
from desktop_search.storage import Manifest, Store
from desktop_search.storage.records import ChunkRecord, DocumentRecord
from desktop_search.storage.schema import DocStatus

KANJI = "日本東京大学研究者新量子計算機設計発表猫犬人口都市首都機能集京寺観光客古歴史文化経済政治社会科学技術"
KANA = "のはがをにでともへやからまでより"
WORDS_1 = ["猫", "犬", "寺", "本"]
WORDS_2 = ["東京", "人口", "首都", "観光"]


def passage(rng: random.Random, words: list[str], cum_weights: list[float]) -> str:
    picked = rng.choices(words, cum_weights=cum_weights, k=rng.randint(60, 120))
    return "".join(w + rng.choice(KANA) for w in picked) + "。"


def build(root: Path, n: int, seed: int = 0) -> Store:
    rng = random.Random(seed)
    vocab = ["".join(rng.choice(KANJI) for _ in range(rng.randint(2, 4))) for _ in range(3000)]
    rng.shuffle(vocab)
    # The timed words from common (rank 10) to rare (rank 2000).
    for rank, word in zip([10, 10, 300, 2000, 10, 10, 300, 2000], WORDS_1 + WORDS_2, strict=True):
        vocab.insert(rank, word)
    cum = list(itertools.accumulate(1 / (i + 1) for i in range(len(vocab))))
    store = Store(root / "index.sqlite3")
    store.check_manifest(Manifest(model_id="bench", dim=8, pooling="mean", max_tokens=256, overlap_tokens=0,
                                  title_prefix=False))
    folder = store.add_folder(str(root / "lib"))
    vec = np.ones(8, dtype=np.float32) / np.sqrt(8)
    per_doc = 100
    for d in range(n // per_doc):
        rec = DocumentRecord(path=f"/lib/{d}.pdf", folder_id=folder, kind="pdf", size=1, mtime_ns=1, hash=str(d),
                             title=str(d), author=None, status=DocStatus.INDEXED, pages=per_doc)
        rec.chunks = [ChunkRecord(ordinal=i, text=passage(rng, vocab, cum), char_start=0, char_end=1, page=i + 1, embedding=vec)
                      for i in range(per_doc)]
        store.commit_documents([rec])
    return store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-cjk-") as tmp:
        t0 = time.perf_counter()
        store = build(Path(tmp), args.passages)
        print(f"# built {store.chunk_count()} passages in {time.perf_counter() - t0:.0f} s; {machine_note()}")
        print(f"{'word':<8}{'passages':>9}{'n-gram index ms':>16}{'table scan ms':>15}{'ratio':>8}  same passages")
        for words in ([w] for w in WORDS_1 + WORDS_2):
            words = list(words)
            fast = best_of(partial(store.gram_search, words, 1000), args.repeat) * 1000
            slow = best_of(partial(store.substring_search, words, 1000), args.repeat) * 1000
            a = {cid for cid, _ in store.gram_search(words, args.passages)}
            b = {cid for cid, _ in store.substring_search(words, args.passages)}
            print(f"{words[0]:<8}{len(b):>9}{fast:>16.1f}{slow:>15.1f}{slow / fast:>7.1f}x  {'yes' if a == b else 'NO'}")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
