"""Token-aware chunking with the embedding model's own tokenizer.

Windows never cross a page or chapter, so every passage has one location.
Inside a segment, text is cut at paragraph and sentence ends where it can be,
and at token boundaries (which for CJK text are characters) where it cannot.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from desktop_search.embed.tokenizer import load_model_tokenizer
from desktop_search.ingest.extract.document import Segment
from desktop_search.recipe import embedding_text as embedding_text  # re-exported: the recipe owns it now

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


def load_chunk_tokenizer(folder: str | Path) -> Tokenizer:
    """The lightest tokenizer that chunks exactly like the model's own (no ``transformers`` in the workers)."""
    return load_model_tokenizer(folder)


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
        extra = (prefix + (title + "\n" if title and self.settings.title_prefix else "")).strip()
        used = len(self.tokenizer(extra, add_special_tokens=False)["input_ids"]) if extra else 0
        # A long title may take at most half of the window.
        used = min(used, (self.settings.max_tokens - self.reserved) // 2)
        return max(16, self.settings.max_tokens - self.reserved - used)

    def chunk_document(self, title: str | None, segments: list[Segment], passage_prefix: str = "") -> list[Chunk]:
        return self.chunk_segments(segments, self.budget(title, passage_prefix))

    def chunk_segments(self, segments: list[Segment], budget: int) -> list[Chunk]:
        chunks: list[Chunk] = []
        for seg in segments:
            for start, end in self._windows(seg.text, budget):
                chunks.append(
                    Chunk(
                        text=seg.text[start:end], char_start=start, char_end=end, ordinal=len(chunks),
                        page=seg.page, page_label=seg.page_label, section=seg.section, href=seg.href,
                        ocr=seg.ocr,
                    )
                )
        return chunks

    def _windows(self, text: str, budget: int) -> list[tuple[int, int]]:
        units = split_units(text)
        if not units:
            return []
        enc = self.tokenizer(
            [text[s:e] for s, e in units], add_special_tokens=False, return_offsets_mapping=True
        )
        # Break over-long units at token boundaries into pieces that fit.
        pieces: list[tuple[int, int, int]] = []  # (start, end, n_tokens)
        for (s, e), offsets in zip(units, enc["offset_mapping"], strict=True):
            n = len(offsets)
            if n <= budget:
                pieces.append((s, e, n))
                continue
            i = 0
            unit = text[s:e]
            while i < n:
                j = min(i + budget, n)
                if j < n:
                    j = _best_cut(unit, offsets, i + budget // 2, j)
                part = offsets[i:j]
                ps = s + part[0][0]
                pe = s + part[-1][1] if j < n else e
                pieces.append((ps, pe, len(part)))
                i = j

        windows: list[tuple[int, int]] = []
        i = 0
        overlap = self.settings.overlap_tokens
        while i < len(pieces):
            j, used = i, 0
            while j < len(pieces) and used + pieces[j][2] <= budget:
                used += pieces[j][2]
                j += 1
            j = max(j, i + 1)
            windows.append((pieces[i][0], pieces[j - 1][1]))
            if j >= len(pieces):
                break
            # Step back over whole units worth at most ``overlap`` tokens.
            k, back = j, 0
            while k - 1 > i and back + pieces[k - 1][2] <= overlap:
                back += pieces[k - 1][2]
                k -= 1
            i = k
        return windows
