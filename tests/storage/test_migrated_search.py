"""With the real default model: every released format, upgraded, searches as it did, and indexing its unchanged
library embeds nothing but the passages an older title rule embedded, which then equal a fresh index's.

What each fixture's version answered (its expected.jsonl) is the reference for dense search, which depends on
the stored vectors alone. Keyword and hybrid ranking changed between versions (query parsing, fusion), so there
the reference is today's release on today's index (schema-4): the same search code, the index the only change.
"""
from __future__ import annotations

import sqlite3
from collections import defaultdict
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from desktop_search.embed.embedder import Embedder, Precision
from desktop_search.embed.models import resolve_model
from desktop_search.index.indexer import Indexer, IndexOptions
from desktop_search.recipe import embedding_text, opens_with
from desktop_search.search.searcher import Searcher
from desktop_search.storage import VectorIndex
from tests.storage.fixtures.make_fixtures import LIBRARY, MODES
from tests.storage.legacy import (
    FIXTURES,
    NAMES,
    OLD_TITLE_RULE,
    SCHEMA_3_OLD_RULE,
    TODAY,
    Copied,
    copy_fixture,
    expected,
    queries,
)

pytestmark = pytest.mark.e2e

Hit = tuple[str, Any, Any, str]  # file (relative to the library), page, section, passage text
Rankings = dict[tuple[str, str], list[Hit]]  # (mode, query id) -> hits, best first


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    # What auto embeds in for these float indexes, queries and updates alike (engine.follow_index), wherever
    # the test runs: fp32 (int8 is the default for new indexes on the CPU engine).
    return Embedder(resolve_model(None), precision=Precision.FP32)


def _hit(path: str, library: Path, page: Any, section: Any, text: str) -> Hit:
    return Path(path).relative_to(library).as_posix(), page, section, text


def _expected(name: str) -> tuple[Rankings, dict[tuple[str, str], list[float]]]:
    hits: Rankings = defaultdict(list)
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row in expected(name):
        key = (row["mode"], row["query_id"])
        hits[key].append(_hit(row["path"], LIBRARY, row["page"], row["section"], row["text"]))
        scores[key].append(row["score"])
    return hits, scores


def _search(fx: Copied, embedder: Embedder) -> tuple[Rankings, dict[tuple[str, str], list[float]]]:
    hits: Rankings = {}
    scores: dict[tuple[str, str], list[float]] = {}
    with Searcher(fx.paths, embedder=embedder) as searcher:  # a reader: it upgrades the index when it opens it
        for mode in MODES:
            for q in queries():
                rows = searcher.search(q["text"], top_k=5, mode=mode, per_document=1)
                hits[mode, q["id"]] = [_hit(r.path, fx.library, r.page, r.section, r.text) for r in rows]
                scores[mode, q["id"]] = [r.score for r in rows]
    return hits, scores


def _queued_files(fx: Copied) -> set[str]:
    with closing(sqlite3.connect(fx.db)) as con:
        rows = con.execute("SELECT d.path FROM reembed r JOIN chunks c ON c.id = r.chunk_id "
                           "JOIN documents d ON d.id = c.document_id").fetchall()
    return {Path(p).relative_to(fx.library).as_posix() for (p,) in rows}


def _differences(got: Rankings, want: Rankings, swappable: set[str]) -> list[tuple[str, str]]:
    """The rankings that differ other than by documents holding a queued passage trading places."""
    bad = []
    for key, hits in want.items():
        mine = got.get(key, [])
        if mine == hits:
            continue
        moved = {h[0] for h, w in zip(mine, hits, strict=False) if h != w}
        if sorted(mine) != sorted(hits) or not moved <= swappable:
            bad.append(key)
    return bad


@pytest.mark.parametrize("name", NAMES)
def test_an_upgraded_index_searches_as_before(name: str, tmp_path: Path, embedder: Embedder) -> None:
    fx = copy_fixture(name, tmp_path)
    got, scores = _search(fx, embedder)

    own, own_scores = _expected(name)
    for q in queries():  # dense: the stored vectors alone decide, so the version's own answers hold
        key = ("dense", q["id"])
        assert got[key] == own[key], key
        assert np.allclose(scores[key], own_scores[key], atol=0.01), key

    today, _ = _expected(TODAY)
    swappable = _queued_files(fx) if name in OLD_TITLE_RULE else set()
    assert _differences(got, today, swappable) == []


def _vectors(db: Path, library: Path) -> dict[tuple[str, str], np.ndarray]:
    """(file, passage text) -> stored vector."""
    with closing(sqlite3.connect(db)) as con:
        rows = con.execute("SELECT d.path, c.text, c.embedding FROM chunks c JOIN documents d ON d.id = c.document_id")
        return {(Path(p).relative_to(library).as_posix(), t): np.frombuffer(e, dtype=np.float16).astype(np.float32)
                for p, t, e in rows}


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("name", NAMES)
def test_indexing_the_unchanged_library_embeds_only_what_the_title_rule_changed(name: str, tmp_path: Path,
                                                                               embedder: Embedder) -> None:
    fx = copy_fixture(name, tmp_path)
    before = _vectors(fx.db, fx.library)
    report = Indexer(fx.paths, IndexOptions(), embedder=embedder).run()
    queued = 3 if name in OLD_TITLE_RULE else 0  # the first passage of the two books and of the PDF that open with their title
    assert (report.added, report.updated, report.moved, report.deleted, report.unchanged) == (0, 0, 0, 0, 5)
    assert (report.failed, report.chunks, report.embedded) == ([], 0, queued)

    after = _vectors(fx.db, fx.library)
    fresh = _vectors(FIXTURES / TODAY / "data" / "index.sqlite3", LIBRARY)  # today's release, a fresh index
    assert after.keys() == before.keys() == fresh.keys()
    with closing(sqlite3.connect(fx.db)) as con:
        titles = {Path(p).relative_to(fx.library).as_posix(): t for p, t in con.execute("SELECT path, title FROM documents")}
    changed = {k for k in after if not np.array_equal(after[k], before[k])}
    assert len(changed) == queued
    for key in changed:  # embedded again, from what today's rule gives it, as a fresh index embeds it
        want = embedder.encode_passages([embedding_text(titles[key[0]], key[1], True)])[0]
        assert _cos(after[key], want) > 0.9999 and _cos(before[key], want) < 0.999, key
    kept = {k for k in after if name == SCHEMA_3_OLD_RULE and opens_with(k[1], titles[k[0]])}
    assert len(kept) == (3 if name == SCHEMA_3_OLD_RULE else 0)
    for key in after:  # every vector now is a fresh index's (fp32 and bf16 differ by less than 1e-4)
        assert (_cos(after[key], fresh[key]) > 0.9995) != (key in kept), key

    saved = VectorIndex._load(fx.paths, 384)
    assert saved is not None and saved.live_count == len(after)
    with closing(sqlite3.connect(fx.db)) as con:
        assert con.execute("SELECT count(*) FROM reembed").fetchone()[0] == 0
    got, _ = _search(fx, embedder)
    assert _differences(got, _expected(TODAY)[0], set()) == []
    assert Indexer(fx.paths, IndexOptions(), embedder=embedder).run().embedded == 0
