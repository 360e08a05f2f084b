"""End to end with the real default model on a SciFact slice, through the CLI."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from desktop_search.cli import main
from tests.conftest import SCIFACT, scifact_doc_id, scifact_slice

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(600)
def test_train_queries_find_their_judged_documents(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    queries, qrels, files = scifact_slice(n_queries=5, n_files=45)
    lib = tmp_path / "library"
    for f in files:
        dest = lib / f.relative_to(SCIFACT / "library")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    data = ["--data-dir", str(tmp_path / "data")]  # no --model: the bundled default

    assert main([*data, "index", str(lib), "--workers", "2", "--no-progress"]) == 0
    out, _ = capsys.readouterr()
    assert f"Indexed {len(files)} new" in out and "0 failed" in out

    qfile = tmp_path / "queries.jsonl"
    qfile.write_text("".join(json.dumps(q) + "\n" for q in queries))
    assert main([*data, "search", "--queries", str(qfile), "--json", "--mode", "dense", "--top-k", "10"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr()[0].splitlines()]

    found: dict[str, set[str]] = {}
    for r in rows:
        found.setdefault(r["query_id"], set()).add(scifact_doc_id(r["path"]))
        assert r["page"] is not None or r["section"]
        assert Path(r["path"]).is_absolute() and r["title"] and r["text"]
    for q in queries:
        assert qrels[q["id"]] & found.get(q["id"], set()), f"query {q['id']} {q['text']!r} missed {qrels[q['id']]}"

    assert main([*data, "status", "--json"]) == 0
    status = json.loads(capsys.readouterr()[0])
    assert status["documents"] == len(files) and status["failed"] == []
    assert status["model"] == "sentence-transformers/all-MiniLM-L6-v2"
