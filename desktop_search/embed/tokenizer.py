"""The model's tokenizer through the ``tokenizers`` library alone.

transformers' ``AutoTokenizer`` reads the same ``tokenizer.json`` but costs a
second or more of imports in every fresh process (each extraction worker,
each `desktop-search search`). This gives the chunker and the embedder what
they ask of it: ids, offsets and truncation to the model's window (the
embedder pads, in numpy, on the right whatever the model's tokenizer config
says). A model without a ``tokenizer.json`` loads transformers' tokenizer
instead (:func:`load_model_tokenizer`).
"""
from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PassageIds:
    """The model's input ids of a document's passages (prefix, title and special tokens in, cut to the
    model's window), one after another: made by an extraction worker, so the main process never tokenizes
    them again, and one array to pickle rather than a list per passage."""

    ids: np.ndarray  # int32, every passage's ids in turn
    ends: np.ndarray  # int64: passage i is ids[ends[i - 1]:ends[i]]

    @classmethod
    def of(cls, passages: Sequence[Sequence[int]]) -> PassageIds:
        ends = np.cumsum([len(p) for p in passages], dtype=np.int64)
        flat = np.fromiter((t for p in passages for t in p), dtype=np.int32, count=int(ends[-1]) if len(ends) else 0)
        return cls(flat, ends)

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.ids[(self.ends[i - 1] if i else 0) : self.ends[i]]

    @property
    def tokens(self) -> int:
        return len(self.ids)

    def __reduce__(self) -> tuple[Any, ...]:
        # As bytes: unpickling two arrays costs 5 us a document, two byte strings almost nothing.
        return _passage_ids, (self.ids.tobytes(), self.ends.tobytes())


def _passage_ids(ids: bytes, ends: bytes) -> PassageIds:
    return PassageIds(np.frombuffer(ids, dtype=np.int32), np.frombuffer(ends, dtype=np.int64))


class FastTokenizer:
    """A ``tokenizer.json`` with the call signature of a ``transformers`` tokenizer, as far as it is used here."""

    def __init__(self, path: Path, special: dict[str, str] | None = None) -> None:
        from tokenizers import Tokenizer as RustTokenizer

        self._tok = RustTokenizer.from_file(str(path))
        self._tok.no_truncation()
        self._tok.no_padding()
        self._specials = self._tok.num_special_tokens_to_add(False)
        ids = {name: self._tok.token_to_id(token) for name, token in (special or {}).items()}
        self.pad_token_id: int | None = ids.get("pad_token")
        self.cls_token_id: int | None = ids.get("cls_token")
        self.sep_token_id: int | None = ids.get("sep_token")

    @functools.cached_property
    def word_starts(self) -> np.ndarray | None:
        """Per token id, whether it starts a word; None unless ids join up (see :meth:`model_input`).

        After BERT's normalizer and pre-tokenizer (which work character by
        character and split at spaces and punctuation) WordPiece cuts each word
        on its own and marks the pieces after a word's first with "##". So the
        ids of a text are the ids of its parts joined, as long as each part
        starts and ends between words: after a space or punctuation, or where
        the next token starts a word. Other tokenizers (SentencePiece's
        Metaspace among them) are not taken to join up.
        """
        from tokenizers import models, normalizers, pre_tokenizers

        tok = self._tok
        if not (isinstance(tok.model, models.WordPiece) and isinstance(tok.pre_tokenizer, pre_tokenizers.BertPreTokenizer)
                and (tok.normalizer is None or isinstance(tok.normalizer, normalizers.BertNormalizer))):
            return None
        prefix = tok.model.continuing_subword_prefix
        vocab = tok.get_vocab()
        starts = np.ones(max(vocab.values(), default=0) + 1, dtype=bool)
        for token, i in vocab.items():
            if token.startswith(prefix):
                starts[i] = False
        return starts

    @functools.cached_property
    def _wrapping(self) -> tuple[list[int], list[int]]:
        """The special tokens the post-processor puts before and after one text."""
        plain = self._tok.encode("a", add_special_tokens=False).ids
        full = self._tok.encode("a").ids
        at = next(i for i in range(len(full)) if full[i : i + len(plain)] == plain)
        return full[:at], full[at + len(plain) :]

    def model_input(self, ids: Sequence[int], max_length: int) -> list[int]:
        """What ``self(text, truncation=True, max_length=max_length)`` gives for a text whose ids are ``ids``
        (without special tokens): cut to fit, then wrapped in the special tokens."""
        before, after = self._wrapping
        return [*before, *ids[: max(max_length - self._specials, 0)], *after]

    def __call__(self, text: Any, add_special_tokens: bool = True, return_offsets_mapping: bool = False,
                 truncation: bool = False, max_length: int | None = None, **_kwargs: Any) -> dict[str, Any]:
        """Ids (and offsets) of one text or a list; with ``truncation``, at most ``max_length`` ids, specials included."""
        single = isinstance(text, str)
        texts = [text] if single else list(text)
        cut = truncation and max_length is not None
        encs = self._tok.encode_batch(texts, add_special_tokens=add_special_tokens and not cut)
        if cut:
            assert max_length is not None
            room = max_length - (self._specials if add_special_tokens else 0)
            for enc in encs:
                enc.truncate(max(room, 0))
            if add_special_tokens:
                encs = [self._tok.post_process(enc) for enc in encs]
        out: dict[str, Any] = {"input_ids": [e.ids for e in encs]}
        if return_offsets_mapping:
            out["offset_mapping"] = [e.offsets for e in encs]
        return {k: v[0] for k, v in out.items()} if single else out


def _special_tokens(folder: Path) -> dict[str, str]:
    """The special tokens (pad, cls, sep) by name, from the model's tokenizer files."""
    found: dict[str, str] = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for key in ("pad_token", "cls_token", "sep_token"):
            value = data.get(key)
            if isinstance(value, dict):
                value = value.get("content")
            if isinstance(value, str) and key not in found:
                found[key] = value
    return found


def load_model_tokenizer(folder: str | Path) -> Any:
    """The lightest tokenizer that gives the model's own ids: :class:`FastTokenizer`, else transformers'
    (for a model with only a slow tokenizer's files, which needs the torch extra's transformers)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # one core per extraction worker
    folder = Path(folder)
    path = folder / "tokenizer.json"
    if path.exists():
        return FastTokenizer(path, _special_tokens(folder))
    try:
        from transformers import AutoTokenizer
    except ImportError:
        from desktop_search.errors import UserFacingError

        raise UserFacingError(f"{folder} has no tokenizer.json; its tokenizer files need transformers, "
                              "which comes with the torch extra: pip install 'desktop-search[torch]'") from None
    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True, use_fast=True)
