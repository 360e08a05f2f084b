"""The tokenizers-only tokenizer gives transformers' ids, truncation and padding."""
from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from desktop_search.embed.embedder import pad_batch
from desktop_search.embed.tokenizer import FastTokenizer, PassageIds, load_model_tokenizer
from desktop_search.errors import UserFacingError

WORDS = ("the statins muscle pain 東京 首都 は です 신씨의 Über straße naïve café 123 , . ! 日本語の文章 antidisestablishment"
         .split())


@pytest.fixture(scope="module")
def texts() -> list[str]:
    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 300))) for _ in range(60)] + ["a", "ü"]


@pytest.mark.torch  # transformers comes with the torch extra
@pytest.mark.parametrize("kwargs", [{}, {"truncation": True, "max_length": 64}, {"add_special_tokens": False},
                                    {"truncation": True, "max_length": 16, "add_special_tokens": False}])
def test_ids_match_transformers(tiny_model: Path, texts: list[str], kwargs: dict) -> None:
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(tiny_model))
    fast = load_model_tokenizer(tiny_model)
    assert isinstance(fast, FastTokenizer)
    assert fast(texts, **kwargs)["input_ids"] == reference(texts, padding=False, **kwargs)["input_ids"]
    if kwargs.get("truncation"):
        assert max(len(x) for x in fast(texts, **kwargs)["input_ids"]) == kwargs["max_length"]
    assert fast(texts[0], **kwargs)["input_ids"] == reference(texts[0], **kwargs)["input_ids"]


@pytest.mark.torch  # transformers comes with the torch extra
def test_padding_and_special_ids_match_transformers(tiny_model: Path, texts: list[str]) -> None:
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(tiny_model))
    fast = load_model_tokenizer(tiny_model)
    ids = fast(texts[:7], truncation=True, max_length=128)["input_ids"]
    mine, theirs = pad_batch(ids, fast.pad_token_id), reference.pad({"input_ids": ids}, return_tensors="np")
    assert mine[0].tolist() == theirs["input_ids"].tolist()
    assert mine[1].tolist() == theirs["attention_mask"].tolist()
    assert (fast.pad_token_id, fast.cls_token_id, fast.sep_token_id) == (
        reference.pad_token_id, reference.cls_token_id, reference.sep_token_id)


@pytest.mark.torch  # transformers comes with the torch extra
def test_a_model_without_tokenizer_json_gets_transformers_tokenizer(tiny_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    (folder / "tokenizer.json").unlink()  # only the slow tokenizer's files (vocab.txt) are left
    tok = load_model_tokenizer(folder)
    assert not isinstance(tok, FastTokenizer)
    assert tok("statins")["input_ids"] == load_model_tokenizer(tiny_model)("statins")["input_ids"]


def test_without_transformers_a_model_without_tokenizer_json_says_what_to_install(
        tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    (folder / "tokenizer.json").unlink()
    monkeypatch.setitem(sys.modules, "transformers", None)  # as where the torch extra is not installed
    with pytest.raises(UserFacingError, match=r"no tokenizer.json.*pip install 'desktop-search\[torch\]'"):
        load_model_tokenizer(folder)


def test_model_input_wraps_and_cuts_ids_as_the_tokenizer_does(tiny_model: Path, texts: list[str]) -> None:
    fast = load_model_tokenizer(tiny_model)
    plain = fast(texts, add_special_tokens=False)["input_ids"]
    for max_length in (2, 16, 128, 512):
        assert [fast.model_input(x, max_length) for x in plain] == fast(texts, truncation=True,
                                                                         max_length=max_length)["input_ids"]
    pad = fast.pad_token_id
    arrays = pad_batch([np.asarray(x[:5], dtype=np.int32) for x in plain[:3]], pad)  # arrays pad as lists do
    assert [a.tolist() for a in arrays] == [a.tolist() for a in pad_batch([x[:5] for x in plain[:3]], pad)]


def test_only_wordpiece_after_bert_pre_tokenizer_is_taken_to_join_up(tiny_model: Path, tmp_path: Path) -> None:
    from tokenizers import SentencePieceUnigramTokenizer

    bert = load_model_tokenizer(tiny_model)
    starts = bert.word_starts
    assert starts is not None and starts[bert._tok.token_to_id("muscle")] and not starts[bert._tok.token_to_id("##ing")]
    unigram = SentencePieceUnigramTokenizer()
    unigram.train_from_iterator(["the statins and the muscle pain", "東京は日本の首都です"] * 20, vocab_size=40,
                                special_tokens=["<pad>", "<s>", "</s>", "<unk>"], unk_token="<unk>", show_progress=False)
    unigram.save(str(tmp_path / "tokenizer.json"))
    assert FastTokenizer(tmp_path / "tokenizer.json").word_starts is None


def test_passage_ids_pickle_as_bytes_and_read_back() -> None:
    import pickle

    ids = PassageIds.of([[101, 7, 102], [], [101, 102]])
    back = pickle.loads(pickle.dumps(ids))
    assert [back[i].tolist() for i in range(len(back))] == [[101, 7, 102], [], [101, 102]]
    assert back.tokens == 5 and b"numpy" not in pickle.dumps(ids)
