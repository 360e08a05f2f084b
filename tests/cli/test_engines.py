"""One index, any engine: what one engine indexed, the other searches with the same results; the index
records what made its vectors, and an int8 index is searched in int8 unless told otherwise."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_search import json_lines

QUERY = ("search", "statins and muscle pain", "--json", "--mode", "dense", "--top-k", "10", "--per-document", "0")


def status(cli) -> dict:
    code, out, _ = cli("status", "--json")
    assert code == 0
    return json.loads(out)


def ranking(rows: list[dict]) -> list[tuple[str, int | None, str | None]]:
    return [(Path(r["path"]).name, r["page"], r["section"]) for r in rows]


@pytest.mark.torch
@pytest.mark.parametrize(("indexer", "searcher"), [("onnx", "torch"), ("torch", "onnx")])
def test_an_index_one_engine_made_is_searched_by_the_other(cli, library: Path, indexer: str, searcher: str) -> None:
    code, _, err = cli("--engine", indexer, "--precision", "fp32", "index", str(library), "--max-tokens", "64")
    assert code == 0, err
    info = status(cli)
    assert (info["embedding_engine"], info["embedding_precision"]) == (indexer, "fp32")
    code, own, _ = cli("--engine", indexer, "--precision", "fp32", *QUERY)
    code2, other, err = cli("--engine", searcher, "--precision", "fp32", *QUERY)
    assert code == code2 == 0 and "differ" not in err
    own_rows, other_rows = json_lines(own), json_lines(other)
    assert ranking(own_rows) == ranking(other_rows) and len(own_rows) >= 4
    assert max(abs(a["score"] - b["score"]) for a, b in zip(own_rows, other_rows, strict=True)) < 1e-4


def test_an_int8_index_is_searched_in_int8_and_says_when_asked_otherwise(cli, library: Path) -> None:
    code, _, err = cli("--precision", "int8", "index", str(library), "--max-tokens", "64")
    assert code == 0, err
    info = status(cli)
    assert (info["embedding_engine"], info["embedding_precision"]) == ("onnx", "int8")
    code, out, err = cli(*QUERY)  # auto: the index's own precision, without a note
    assert code == 0 and json_lines(out) and "desktop-search:" not in err
    code, out, err = cli("--precision", "fp32", *QUERY)
    assert code == 0 and json_lines(out) and "this index's vectors were made in int8" in err
    code, _, err = cli("index", str(library))  # an update keeps to int8 without being told
    assert code == 0, err
    assert status(cli)["embedding_precision"] == "int8"
