"""A generated library for bench_scale.py: long PDFs and EPUBs of real English words, and a stand-in embedder.

The words are the default model's own whole-word vocabulary, which is close
to frequency order, drawn in a Zipf law, so common words are common and the
keyword index sees postings of realistic lengths. Each document has a topic
(a few hundred words it uses often), so passages of a topic share words.
Each page (PDF) or chapter (EPUB) holds about 360 tokens: the chunker cuts it
into two passages, and ``passages_per_file / 2`` pages make a file.

:class:`StandInEmbedder` replaces the model in the index run, so the
benchmark measures everything but the model: a passage's vector is the
normalised sum of its words' vectors, weighted by how rare each word is (a
tf-idf random projection). A word's vector is hash-seeded: a part in a shared
192-dimensional subspace plus a part of its own in all 384 dimensions, so the
vectors are about as hard for the graph as the real model's on the same
passages. Measured on 3,000 of them and 200 queries (k=20 local intrinsic
dimensionality, higher is harder): real model 57.5 over passages and 78.4
over queries, this stand-in 66.4 and 81.1; hashed vectors in all 384
dimensions alone gave 72.5 and 105.4 (recall@10 0.77 at 100k where the real
model would do better), a 16-dimensional subspace 17 and 18 (far too easy).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from desktop_search.embed.embedder import Engine, InputIds, Precision
from desktop_search.embed.models import ModelSpec, resolve_model
from tests.ingest.extract.scans import TextPage, write_pdf

DIM = 384
FILES_PER_FOLDER = 500
TOPICS = 2000
TOPIC_WORDS = 150  # words a topic uses often
TOPIC_SHARE = 0.4  # of a passage's words, drawn from its topic's words
COMMON = 150  # the most frequent words never make a topic or a query word
SENTENCES_PER_PAGE = 28  # ~360 tokens: two passages of <= 254 tokens with 32 overlap
WORDS_PER_LINE = 11
EPUB_EVERY = 5  # every fifth file is an EPUB
_WORD = re.compile(r"[a-z]+")


def vocabulary() -> list[str]:
    """Whole words of the default model's WordPiece vocabulary, in its (roughly frequency) order."""
    spec = resolve_model(None)
    lines = (Path(spec.path) / "vocab.txt").read_text(encoding="utf-8").split("\n")
    return [w for w in lines if re.fullmatch("[a-z]{2,}", w)]


@dataclass(frozen=True)
class LibrarySpec:
    """What a generated library is; saved with it, so ``--keep`` reuses only a matching one."""

    files: int
    passages_per_file: int
    seed: int = 0

    @property
    def pages(self) -> int:
        return max(1, self.passages_per_file // 2)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


class WordSource:
    """Draws the words of pages and queries; one per process, seeded per file."""

    def __init__(self, words: Sequence[str], seed: int = 0) -> None:
        self.words = np.asarray(words)
        n = len(words)
        p = 1.0 / (np.arange(n) + 2.7)  # Zipf over the (frequency-ordered) vocabulary
        self.cdf = np.cumsum(p / p.sum())
        rng = np.random.default_rng(seed)
        self.topics = np.stack([rng.choice(np.arange(COMMON, n), TOPIC_WORDS, replace=False) for _ in range(TOPICS)])

    def draw(self, rng: np.random.Generator, topic: int, n: int) -> np.ndarray:
        general = np.searchsorted(self.cdf, rng.random(n))
        own = self.topics[topic][rng.integers(0, TOPIC_WORDS, n)]
        return np.where(rng.random(n) < TOPIC_SHARE, own, np.minimum(general, len(self.words) - 1))

    def sentences(self, rng: np.random.Generator, topic: int, count: int) -> list[str]:
        lengths = rng.integers(8, 17, count)
        ids = self.draw(rng, topic, int(lengths.sum()))
        out, pos = [], 0
        for n in lengths:
            words = self.words[ids[pos : pos + n]]
            pos += n
            out.append(str(words[0]).capitalize() + " " + " ".join(words[1:]) + ".")
        return out

    def title(self, rng: np.random.Generator, topic: int) -> str:
        return " ".join(str(w) for w in self.words[self.topics[topic][rng.integers(0, TOPIC_WORDS, 3)]]).title()

    def query(self, rng: np.random.Generator) -> str:
        """Two to four words, as someone looking for a subject types them: mostly its topic's words."""
        topic = int(rng.integers(0, TOPICS))
        n = int(rng.integers(2, 5))
        words = [str(self.words[self.topics[topic][i]]) for i in rng.choice(TOPIC_WORDS, n - 1, replace=False)]
        words.append(str(self.words[int(rng.integers(COMMON, 3000))]))
        return " ".join(words)


def _lines(sentences: list[str]) -> list[str]:
    words = " ".join(sentences).split(" ")
    return [" ".join(words[i : i + WORDS_PER_LINE]) for i in range(0, len(words), WORDS_PER_LINE)]


def _epub(path: Path, title: str, chapters: list[tuple[str, list[str]]]) -> None:
    """A minimal EPUB 3: container, package document, one XHTML file per chapter (heading + paragraphs)."""
    names = [f"ch{i:03d}.xhtml" for i in range(len(chapters))]
    items = "".join(f'<item id="c{i}" href="{n}" media-type="application/xhtml+xml"/>' for i, n in enumerate(names))
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(names)))
    package = ('<?xml version="1.0" encoding="utf-8"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" '
               'unique-identifier="uid"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
               f'<dc:identifier id="uid">{escape(path.stem)}</dc:identifier><dc:title>{escape(title)}</dc:title>'
               f'<dc:creator>Scale Bench</dc:creator><dc:language>en</dc:language></metadata><manifest>{items}</manifest>'
               f'<spine>{spine}</spine></package>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        zf.writestr("META-INF/container.xml",
                    '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
                    '<rootfiles><rootfile full-path="OEBPS/book.opf" media-type="application/oebps-package+xml"/>'
                    '</rootfiles></container>')
        zf.writestr("OEBPS/book.opf", package)
        for name, (heading, sentences) in zip(names, chapters, strict=True):
            quarter = max(1, len(sentences) // 4)
            paras = "".join(f"<p>{escape(' '.join(sentences[i : i + quarter]))}</p>" for i in range(0, len(sentences), quarter))
            zf.writestr(f"OEBPS/{name}", '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
                        f'<head><title>{escape(heading)}</title></head><body><h1>{escape(heading)}</h1>{paras}</body></html>')


_SOURCE: WordSource | None = None


def _write_range(args: tuple[Path, LibrarySpec, int, int]) -> int:
    """Write files [start, stop) of the library (in a worker process)."""
    global _SOURCE
    root, spec, start, stop = args
    if _SOURCE is None:
        _SOURCE = WordSource(vocabulary(), spec.seed)
    src = _SOURCE
    for i in range(start, stop):
        rng = np.random.default_rng([spec.seed, i])
        topic = int(rng.integers(0, TOPICS))
        title = src.title(rng, topic)
        folder = root / f"shelf-{i // FILES_PER_FOLDER:03d}"
        folder.mkdir(exist_ok=True)
        pages = [src.sentences(rng, topic, SENTENCES_PER_PAGE) for _ in range(spec.pages)]
        if i % EPUB_EVERY == EPUB_EVERY - 1:
            chapters = [(f"Chapter {n + 1}: {src.title(rng, topic)}", s) for n, s in enumerate(pages)]
            _epub(folder / f"{i:07d} {title}.epub", title, chapters)
        else:
            write_pdf(folder / f"{i:07d} {title}.pdf", [TextPage(_lines(s), size=9) for s in pages])
    return stop - start


def generate(root: Path, spec: LibrarySpec, processes: int = 2) -> bool:
    """Write the library under ``root`` unless a complete one of the same spec is there; True if written."""
    marker = root / ".library.json"
    if marker.exists() and marker.read_text(encoding="utf-8") == spec.to_json():
        return False
    root.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    step = 200
    jobs = [(root, spec, s, min(spec.files, s + step)) for s in range(0, spec.files, step)]
    with get_context("forkserver").Pool(processes) as pool:
        for _ in pool.imap_unordered(_write_range, jobs):
            pass
    marker.write_text(spec.to_json(), encoding="utf-8")
    return True


def queries(n: int, seed: int = 1) -> list[str]:
    src = WordSource(vocabulary(), 0)
    rng = np.random.default_rng(seed)
    return [src.query(rng) for _ in range(n)]


def words_for_parts(n: int, seed: int = 4) -> list[str]:
    """``n`` words of eight letters or more that the generated passages use: their middles are searched."""
    long = [w for w in vocabulary() if len(w) >= 8]
    rng = np.random.default_rng(seed)
    return [long[i] for i in rng.choice(len(long), size=min(n, len(long)), replace=False)]


class StandInEmbedder:
    """Everything but the model: a deterministic tf-idf random projection, thousands of passages a second.

    It passes for the default model (same spec, so the index's manifest is
    the real one) and implements :class:`~desktop_search.embed.embedder.TextEmbedder`.
    """

    device = "cpu"
    engine = Engine.ONNX  # recorded in the index as the model's would be
    precision = Precision.FP32
    name = "stand-in embedder (hashed word vectors; not a model)"

    SHARED_DIMS = 192  # the subspace words share
    OWN = 0.8  # the weight of a word's own part

    def __init__(self) -> None:
        self.spec: ModelSpec = resolve_model(None)
        self.timings: dict[str, float] = {"tokenize": 0.0, "forward": 0.0}
        words = vocabulary()
        self._row = {w: i for i, w in enumerate(words)}
        rng = np.random.default_rng(0)
        self._shared = (rng.standard_normal((self.SHARED_DIMS, DIM)) / math.sqrt(self.SHARED_DIMS)).astype(np.float32)
        self._table = np.stack([self._random(w) * math.log(3.0 + i) for i, w in enumerate(words)])

    def _random(self, word: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
        rng = np.random.default_rng(seed)
        shared = rng.standard_normal(self.SHARED_DIMS).astype(np.float32) @ self._shared
        return shared + self.OWN * rng.standard_normal(DIM).astype(np.float32)

    def _vector(self, text: str) -> np.ndarray:
        rows = [r for r in map(self._row.get, _WORD.findall(text.lower())) if r is not None]
        vec = self._table[rows].sum(axis=0) if rows else self._random(text)
        return vec / (np.linalg.norm(vec) or 1.0)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._vector(text)
        return out

    def encode_passages(self, texts: Sequence[str], ids: Sequence[InputIds | None] | None = None) -> np.ndarray:
        """``ids``, the model input the extraction workers made, go unused: the stand-in reads the words."""
        import time

        t0 = time.perf_counter()
        out = self.encode(texts)
        self.timings["forward"] += time.perf_counter() - t0
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts)


def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    """A process's resident memory (VmRSS) or its peak (VmHWM), in MiB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(pid: int | str = "self") -> list[int]:
    """Every process below ``pid`` (the forkserver and its extraction workers)."""
    out: list[int] = []
    stack = [pid]
    while stack:
        for task in Path(f"/proc/{stack.pop()}/task").glob("*"):
            try:
                found = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            out.extend(found)
            stack.extend(found)
    return out


def tree_rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process and all its descendants, in MiB."""
    return rss_mb(pid) + sum(rss_mb(p) for p in descendants(pid))


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    """This process's user + system CPU time, its threads included."""
    t = os.times()
    return t.user + t.system
