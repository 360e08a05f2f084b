"""The passages' model input ids made in the extraction workers are exactly what the embedder would tokenize."""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pytest

from desktop_search.embed.embedder import load_tokenizer
from desktop_search.embed.models import ModelSpec, resolve_model, spec_from_folder
from desktop_search.embed.tokenizer import load_model_tokenizer
from desktop_search.ingest import chunking
from desktop_search.ingest.chunking import Chunker, ChunkSettings, embedding_text
from desktop_search.ingest.extract.document import Segment
from desktop_search.ingest.pool import read_and_extract
from tests.conftest import REPO, SCIFACT, SHARED

JSQUAD = SHARED / "jsquad" / "library"
# The multilingual model's stand-in (benchmarks/multilingual_eval.py): XLM-R's SentencePiece tokenizer, "passage: ".
# The evaluation stand-in for multilingual-e5-small (../shared/tools/make_me5_proxy.sh; never shipped): .ci/run
# builds it and names it here; a developer's copy beside the checkout serves too.
ME5_PROXY = Path(os.environ.get("DESKTOP_SEARCH_ME5_PROXY", REPO.parent / "me5-proxy"))


@functools.cache
def embedder_tokenizer(spec: ModelSpec) -> Any:
    return load_tokenizer(spec)


def plain_ids(spec: ModelSpec, title: str | None, texts: list[str], title_prefix: bool = True) -> list[list[int]]:
    """What Embedder.encode_passages tokenizes: prefix + embedding_text, cut to the model's window."""
    inputs = [spec.passage_prefix + embedding_text(title, t, title_prefix) for t in texts]
    return embedder_tokenizer(spec)(inputs, truncation=True, max_length=spec.max_tokens)["input_ids"]


def check_library(spec: ModelSpec, files: list[Path], settings: ChunkSettings) -> int:
    chunker = Chunker(load_model_tokenizer(spec.path), settings)
    passages = 0
    for f in files:
        doc = read_and_extract(str(f))
        chunks, ids = chunker.chunk_with_ids(doc.title, doc.segments, spec.passage_prefix, spec.max_tokens)
        assert [c.text for c in chunks] == [c.text for c in chunker.chunk_document(doc.title, doc.segments,
                                                                                     spec.passage_prefix)]
        want = plain_ids(spec, doc.title, [c.text for c in chunks], settings.title_prefix)
        assert [ids[i].tolist() for i in range(len(ids))] == want, f
        passages += len(chunks)
    return passages


def library(folder: Path, step: int) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".pdf", ".epub"))[::step]
    if not files:
        pytest.skip(f"{folder} is not checked out")
    return files


@pytest.fixture
def joins(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each passage's ids were joined from the chunker's (True) or tokenized again (False)."""
    seen: list[bool] = []
    joined = chunking._joined_ids

    def spy(*args: Any) -> list[int] | None:
        out = joined(*args)
        seen.append(out is not None)
        return out

    monkeypatch.setattr(chunking, "_joined_ids", spy)
    return seen


@pytest.mark.parametrize("corpus, step", [(SCIFACT / "library", 25), (JSQUAD, 1)])
def test_ids_of_the_default_model_are_joined_and_exact(corpus: Path, step: int, joins: list[bool]) -> None:
    spec = resolve_model(None)
    assert check_library(spec, library(corpus, step), ChunkSettings(min(256, spec.max_tokens))) > 0
    assert sum(joins) >= 0.9 * len(joins)  # BERT's WordPiece: joined, not tokenized twice


def test_ids_stay_exact_where_a_window_is_cut_inside_a_word(tiny_model: Path, joins: list[bool]) -> None:
    spec = spec_from_folder(tiny_model)
    chunker = Chunker(load_model_tokenizer(spec.path), ChunkSettings(max_tokens=24, overlap_tokens=4))
    # A "word" of some 40 tokens cannot fit a 20-token budget: cut between its pieces.
    text = " ".join(["short words here."] * 6 + ["qzxjvkqzxjvkqzxjvk" * 4] + ["more short words."] * 6)
    chunks, ids = chunker.chunk_with_ids("A title", [Segment(text, page=1)], "", spec.max_tokens)
    assert [ids[i].tolist() for i in range(len(ids))] == plain_ids(spec, "A title", [c.text for c in chunks])
    assert False in joins and True in joins  # some windows start or end mid-word: tokenized again


@pytest.mark.skipif(not (ME5_PROXY / "tokenizer.json").exists(), reason="the multilingual proxy model is not here")
@pytest.mark.parametrize("corpus, step", [(JSQUAD, 1), (SCIFACT / "library", 100)])
def test_ids_of_a_sentencepiece_model_are_tokenized_and_exact(corpus: Path, step: int, joins: list[bool]) -> None:
    spec = spec_from_folder(ME5_PROXY)
    assert spec.passage_prefix == "passage: "
    assert check_library(spec, library(corpus, step), ChunkSettings(min(256, spec.max_tokens))) > 0
    assert not any(joins)  # not taken to join up: each passage's input tokenized in the worker
