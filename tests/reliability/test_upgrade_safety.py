"""kill -9 during the format upgrade of a released index: the file is the old format or a later complete one,
and the next open finishes the upgrade."""
from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from desktop_search.storage.schema import SCHEMA_VERSION
from tests.reliability.conftest import run_cli, start_paused
from tests.storage.legacy import chunk_rows, copy_fixture, schema_of, user_version

# backing-up: the copy written under a temporary name; migrating-rebuilt: inside the 0 -> 3 step, tables rewritten;
# migrating@1 / @2: inside the first / second step, all of it done but the commit.
POINTS = ["backing-up", "migrating-rebuilt", "migrating@1", "migrating@2"]


def _kill_at(point: str, data: Path, model: Path, pause_dir: Path) -> None:
    """Open the index (``status``, a reader that upgrades it) and kill -9 the process at ``point``."""
    paused = start_paused(data, model, point, pause_dir=pause_dir, command=("status", "--json"))
    try:
        paused.kill()
    finally:
        paused.cleanup()
    assert paused.proc.returncode == -9


@pytest.mark.parametrize("point", POINTS)
def test_kill_9_during_an_upgrade_then_the_next_open_finishes_it(point: str, tmp_path: Path, tiny_model: Path) -> None:
    fx = copy_fixture("schema-1", tmp_path / "copy")
    rows, old_schema = chunk_rows(fx.db), schema_of(fx.db)
    _kill_at(point, fx.paths.root, tiny_model, tmp_path / "pause")

    with closing(sqlite3.connect(fx.db)) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert chunk_rows(fx.db) == rows
    backup = fx.db.with_name("index.sqlite3.bak-schema-1")
    if point == "migrating@2":  # the first step committed: a complete schema-3 file (today's release reads it)
        assert user_version(fx.db) == 3 and backup.exists()
    else:  # the old database, as the old version left it
        assert user_version(fx.db) == 0 and schema_of(fx.db) == old_schema
        assert backup.exists() == (point != "backing-up")

    out = run_cli(fx.paths.root, tiny_model, "status", "--json")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert json.loads(out.stdout)["documents"] == 4
    assert user_version(fx.db) == SCHEMA_VERSION and chunk_rows(fx.db) == rows
    assert chunk_rows(backup) == rows and user_version(backup) == 0
    assert not list(fx.paths.root.glob(".*.tmp"))


@pytest.mark.parametrize("point", ["migrating-trigram", "migrating@1"])
def test_kill_9_during_the_step_that_rebuilds_the_trigram_index_leaves_format_4(point: str, tmp_path: Path,
                                                                                  tiny_model: Path) -> None:
    fx = copy_fixture("schema-4", tmp_path / "copy")
    rows, old_schema = chunk_rows(fx.db), schema_of(fx.db)
    _kill_at(point, fx.paths.root, tiny_model, tmp_path / "pause")

    with closing(sqlite3.connect(fx.db)) as con:  # the old index, whole: its trigram index holds every passage
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.execute("INSERT INTO chunks_tri(chunks_tri, rank) VALUES ('integrity-check', 1)")
        assert con.execute("SELECT count(*) FROM chunks_tri_docsize").fetchone()[0] == len(rows) == 9
    assert user_version(fx.db) == 4 and schema_of(fx.db) == old_schema and chunk_rows(fx.db) == rows

    out = run_cli(fx.paths.root, tiny_model, "status", "--json")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert user_version(fx.db) == SCHEMA_VERSION and chunk_rows(fx.db) == rows
    with closing(sqlite3.connect(fx.db)) as con:
        assert con.execute("SELECT count(*) FROM chunks_tri_docsize").fetchone()[0] == 2  # 羅生門's passages
        assert {w for (w,) in con.execute("SELECT word FROM vocab_tri WHERE vocab_tri MATCH '\"abbi\"'")} == {"rabbit"}
