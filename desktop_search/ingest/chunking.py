"""Token-aware chunking with the embedding model's own tokenizer.

Windows never cross a page or chapter, so every passage has one location.
Inside a segment, text is cut at paragraph and sentence ends where it can be,
and at token boundaries (which for CJK text are characters) where it cannot.

Given the model's window (``ChunkJob.input_max_tokens``), the chunker also
gives each passage the ids the model takes for it (:class:`PassageIds`):
joined from the ids it cut the text by, where the tokenizer allows that
exactly (:attr:`FastTokenizer.word_starts`), else by tokenizing the
passage's embedding input. The extraction workers do it, so the indexer's
main process only pads them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from desktop_search.embed.tokenizer import FastTokenizer, PassageIds
from desktop_search.ingest.extract.document import Segment
from desktop_search.recipe import (
    embedding_head,
    embedding_text as embedding_text,  # re-exported: the recipe owns it now
)

# A unit ends after a sentence end (Latin or CJK) followed by space, after a
# CJK full stop even with no space, or at a paragraph break.
_UNIT_END = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；])\s*|\n\n+")
# Inside an over-long CJK sentence: a clause ends after these marks, and a
# word most often ends where hiragana (particles, endings) meets kanji or katakana.
_CLAUSE_MARKS = frozenset("、，,・：:」』）)】〕")
_HIRAGANA = re.compile("[\u3040-\u309f]")
_WORD_HEAD = re.compile("[\u30a0-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")


class Tokenizer(Protocol):
    def __call__(self, text: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class ChunkSettings:
    """Recorded in the index manifest: changing any of them means a rebuild."""

    max_tokens: int = 256  # including the special tokens
    overlap_tokens: int = 32
    title_prefix: bool = True  # embed "title\\n" + passage


@dataclass(frozen=True)
class ChunkJob:
    """What an extraction worker needs to cut documents into passages (picklable; no torch)."""

    tokenizer_dir: str  # the model folder holding its tokenizer
    settings: ChunkSettings
    passage_prefix: str = ""
    input_max_tokens: int | None = None  # the model's window: the passages' model input ids too (None: not)


@dataclass
class Chunk:
    text: str
    char_start: int
    char_end: int
    ordinal: int
    page: int | None = None
    page_label: str | None = None
    section: str | None = None
    href: str | None = None
    ocr: bool = False  # its page was read by OCR


class _Piece(NamedTuple):
    """A whole unit, or part of one cut at a token boundary: tokens ``lo:hi`` of unit ``unit``."""

    start: int
    end: int
    unit: int
    lo: int
    hi: int

    @property
    def tokens(self) -> int:
        return self.hi - self.lo


@dataclass
class _Windows:
    """A segment's windows, with what their ids are joined from."""

    spans: list[tuple[int, int]]
    pieces: list[tuple[int, int]]  # per window: its first and one past its last piece
    parts: list[_Piece]
    unit_ids: list[list[int]]


def split_units(text: str) -> list[tuple[int, int]]:
    """Sentence/paragraph spans (start, end) covering the non-space text."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _UNIT_END.finditer(text):
        if m.start() > pos:
            spans.append((pos, m.start()))
        pos = m.end()
    if pos < len(text):
        spans.append((pos, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _best_cut(text: str, offsets: list[tuple[int, int]], lo: int, hi: int) -> int:
    """The token index in (lo, hi] to cut before: the last word start, else the
    last clause end (CJK comma), else the last hiragana-to-kanji/katakana step;
    ``hi`` when there is none (a cut at any token boundary)."""
    def word_start(k: int) -> bool:  # a space before the token, so "word61" is not cut into "word6" + "1"
        return offsets[k][0] > offsets[k - 1][1]

    def clause_end(k: int) -> bool:
        return text[offsets[k - 1][1] - 1] in _CLAUSE_MARKS

    def script_step(k: int) -> bool:
        return bool(_HIRAGANA.match(text[offsets[k - 1][1] - 1]) and _WORD_HEAD.match(text[offsets[k][0]]))

    for good in (word_start, clause_end, script_step):
        for k in range(hi, lo, -1):
            if offsets[k - 1][1] > 0 and good(k):
                return k
    return hi


class Chunker:
    """Packs sentences into windows of at most ``max_tokens`` model tokens."""

    def __init__(self, tokenizer: Tokenizer, settings: ChunkSettings, reserved_tokens: int = 2) -> None:
        self.tokenizer = tokenizer
        self.settings = settings
        self.reserved = reserved_tokens  # [CLS] and [SEP]

    def budget(self, title: str | None, prefix: str = "") -> int:
        """Tokens left for the passage once specials, prefix and title are in."""
        return self._budget(len(self._ids(self._head(title, prefix))))

    def _head(self, title: str | None, prefix: str) -> str:
        """What goes before a passage at most (prefix, and the title when titles are embedded), stripped."""
        return (prefix + (title + "\n" if title and self.settings.title_prefix else "")).strip()

    def _budget(self, used: int) -> int:
        # A long title may take at most half of the window.
        used = min(used, (self.settings.max_tokens - self.reserved) // 2)
        return max(16, self.settings.max_tokens - self.reserved - used)

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    def chunk_document(self, title: str | None, segments: list[Segment], passage_prefix: str = "") -> list[Chunk]:
        return self.chunk_segments(segments, self.budget(title, passage_prefix))

    def chunk_segments(self, segments: list[Segment], budget: int) -> list[Chunk]:
        return self._chunk(segments, budget)[0]

    def chunk_with_ids(self, title: str | None, segments: list[Segment], passage_prefix: str,
                       max_length: int) -> tuple[list[Chunk], PassageIds]:
        """The passages, and what the model takes for each: the ids of ``passage_prefix`` +
        :func:`embedding_text`, with special tokens, cut to ``max_length`` as the embedder cuts them."""
        extra = self._head(title, passage_prefix)
        extra_ids = self._ids(extra)
        chunks, windows = self._chunk(segments, self._budget(len(extra_ids)))
        fast = self.tokenizer if isinstance(self.tokenizer, FastTokenizer) else None
        starts = fast.word_starts if fast is not None else None
        # Per head (prefix, and the title where the passage does not open with it): its ids, where they join
        # the passage's. BERT's pre-tokenizer splits at spaces (the title's "\n") and gives them no ids.
        heads: dict[str, list[int] | None] = {}
        ids: list[list[int] | None] = []
        at = [(seg, k) for seg in windows for k in range(len(seg.spans))]
        for c, (w, k) in zip(chunks, at, strict=True):
            head = passage_prefix + embedding_head(title, c.text, self.settings.title_prefix)
            if head not in heads:
                joins = starts is not None and (not head or head[-1].isspace())
                heads[head] = (extra_ids if head.strip() == extra else self._ids(head.strip())) if joins else None
            head_ids = heads[head]
            own = _joined_ids(w, k, starts) if head_ids is not None else None
            ids.append(None if own is None or fast is None else fast.model_input([*(head_ids or ()), *own], max_length))
        missing = [i for i, x in enumerate(ids) if x is None]
        if missing:
            texts = [passage_prefix + embedding_text(title, chunks[i].text, self.settings.title_prefix) for i in missing]
            encoded = self.tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
            for i, x in zip(missing, encoded, strict=True):
                ids[i] = x
        return chunks, PassageIds.of([x for x in ids if x is not None])

    def _chunk(self, segments: list[Segment], budget: int) -> tuple[list[Chunk], list[_Windows]]:
        chunks: list[Chunk] = []
        windows: list[_Windows] = []
        for seg in segments:
            w = self._windows(seg.text, budget)
            windows.append(w)
            for start, end in w.spans:
                chunks.append(
                    Chunk(
                        text=seg.text[start:end], char_start=start, char_end=end, ordinal=len(chunks),
                        page=seg.page, page_label=seg.page_label, section=seg.section, href=seg.href,
                        ocr=seg.ocr,
                    )
                )
        return chunks, windows

    def _windows(self, text: str, budget: int) -> _Windows:
        units = split_units(text)
        if not units:
            return _Windows([], [], [], [])
        enc = self.tokenizer(
            [text[s:e] for s, e in units], add_special_tokens=False, return_offsets_mapping=True
        )
        # Break over-long units at token boundaries into pieces that fit.
        pieces: list[_Piece] = []
        for u, ((s, e), offsets) in enumerate(zip(units, enc["offset_mapping"], strict=True)):
            n = len(offsets)
            if n <= budget:
                pieces.append(_Piece(s, e, u, 0, n))
                continue
            i = 0
            unit = text[s:e]
            while i < n:
                j = min(i + budget, n)
                if j < n:
                    j = _best_cut(unit, offsets, i + budget // 2, j)
                ps = s + offsets[i][0]
                pe = s + offsets[j - 1][1] if j < n else e
                pieces.append(_Piece(ps, pe, u, i, j))
                i = j

        spans: list[tuple[int, int]] = []
        ranges: list[tuple[int, int]] = []
        i = 0
        overlap = self.settings.overlap_tokens
        while i < len(pieces):
            j, used = i, 0
            while j < len(pieces) and used + pieces[j].tokens <= budget:
                used += pieces[j].tokens
                j += 1
            j = max(j, i + 1)
            spans.append((pieces[i].start, pieces[j - 1].end))
            ranges.append((i, j))
            if j >= len(pieces):
                break
            # Step back over whole units worth at most ``overlap`` tokens.
            k, back = j, 0
            while k - 1 > i and back + pieces[k - 1].tokens <= overlap:
                back += pieces[k - 1].tokens
                k -= 1
            i = k
        return _Windows(spans, ranges, pieces, enc["input_ids"])


def _joined_ids(w: _Windows, k: int, starts: Any) -> list[int] | None:
    """Window ``k``'s ids joined from its pieces' (units are cut apart at spaces or CJK stops, which BERT's
    pre-tokenizer splits at too); None where it starts or ends inside a word, whose ids would differ."""
    i, j = w.pieces[k]
    first, last = w.parts[i], w.parts[j - 1]
    last_ids = w.unit_ids[last.unit]
    if (first.lo and not starts[w.unit_ids[first.unit][first.lo]]) or (
            last.hi < len(last_ids) and not starts[last_ids[last.hi]]):
        return None
    out: list[int] = []
    for p in w.parts[i:j]:
        out.extend(w.unit_ids[p.unit][p.lo : p.hi])
    return out


def strip_overlap(previous: str, following: str, limit: int = 2000) -> str:
    """``following`` without the text it repeats from the end of ``previous``.

    Neighbouring chunks of a page or chapter overlap by a few sentences (``overlap_tokens``);
    a preview, or a document's text put back together, shows them once.
    """
    longest = min(len(previous), len(following), limit)
    for k in range(longest, 20, -1):
        if previous.endswith(following[:k]):
            return following[k:]
    return following
