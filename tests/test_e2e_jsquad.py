"""Japanese end to end with the real (English-only) default model, on part of the JSQuAD library."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from desktop_search.cli import main
from tests.conftest import SHARED

pytestmark = pytest.mark.e2e

JSQUAD = SHARED / "jsquad"
DOCS = ["Google_検索.pdf", "ISO_16949.epub"]


def test_japanese_hybrid_is_keyword_with_a_notice(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in DOCS:
        os.symlink((JSQUAD / "library" / name).resolve(), lib / name)
    with open(JSQUAD / "qrels.tsv", encoding="utf-8", newline="") as fh:
        wanted = {row["query-id"]: (row["doc"], int(row["unit"])) for row in csv.DictReader(fh, delimiter="\t")
                  if row["doc"] in DOCS}
    queries = [json.loads(line) for line in (JSQUAD / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
    qfile = tmp_path / "q.jsonl"
    qfile.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries if q["id"] in wanted),
                     encoding="utf-8")
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "index", "--no-progress", str(lib)]) == 0
    assert "Most of the library is Japanese" in capsys.readouterr().err

    runs = {}
    for mode in ("keyword", "hybrid"):
        assert main([*data, "search", "--queries", str(qfile), "--json", "--mode", mode, "-k", "5"]) == 0
        out, err = capsys.readouterr()
        runs[mode] = [(r["query_id"], r["chunk_id"], Path(r["path"]).name) for r in map(json.loads, out.splitlines())]
        assert ("models get intfloat/multilingual-e5-small" in err) == (mode == "hybrid")
    assert runs["hybrid"] == runs["keyword"] != []
    # The answer's document comes first for most questions.
    first: dict[str, str] = {}
    for qid, _cid, name in runs["keyword"]:
        first.setdefault(qid, name)
    assert sum(first.get(qid) == doc for qid, (doc, _unit) in wanted.items()) >= 0.9 * len(wanted)
