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

import json
import os
from pathlib import Path
from typing import Any


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
