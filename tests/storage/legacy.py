"""The data dirs every released storage format left behind (tests/storage/fixtures, made by make_fixtures.py
from the commits that wrote them), copied for a test with their library, stored paths pointing at the copy."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_search.paths import DataPaths
from tests.storage.fixtures.make_fixtures import HERE as FIXTURES, LIBRARY, MTIME_NS, RELEASED, TOUCHED

NAMES = [name for name, *_ in RELEASED + TOUCHED]
# Formats from before the title rule changed (b91051d): their title-opening passages are queued for re-embedding.
OLD_TITLE_RULE = [n for n in NAMES if not n.startswith(("schema-3", "schema-4"))]
TODAY = "schema-4"  # the data dir today's release (before this format) writes
# Schema 3 written before b91051d: the old title rule, which nothing in the file tells from today's. Schema 3 is
# taken to follow today's rule (re-embedding today's release's index for a guess is not worth it), so these
# title-opening passages keep their vectors, as today's release serves them.
SCHEMA_3_OLD_RULE = "schema-3-70c1ecf"


@dataclass(frozen=True)
class Copied:
    library: Path
    paths: DataPaths

    @property
    def db(self) -> Path:
        return self.paths.database


def copy_fixture(name: str, dest: Path) -> Copied:
    """The fixture's data dir and library under ``dest``, as the user who made it would have them:
    the same mtimes (so nothing looks changed) and every stored path pointing at the copied library."""
    library, data = dest / "library", dest / "data"
    shutil.copytree(FIXTURES / "library", library)
    for p in library.rglob("*"):
        if p.is_file():
            os.utime(p, ns=(MTIME_NS, MTIME_NS))
    shutil.copytree(FIXTURES / name / "data", data)
    old, new = str(LIBRARY), str(library)
    with closing(sqlite3.connect(data / "index.sqlite3")) as con, con:  # the old format's own tables
        for table in ("documents", "folders"):
            con.execute(f"UPDATE {table} SET path = ? || substr(path, ?) WHERE substr(path, 1, ?) = ?",
                        (new, len(old) + 1, len(old), old))
    backup = data / "folders.json"
    if backup.exists():
        backup.write_text(backup.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    return Copied(library, DataPaths(data))


def expected(name: str, mode: str | None = None) -> list[dict[str, Any]]:
    """The lines of the fixture's expected.jsonl: what the version that made it answered to queries.jsonl."""
    lines = [json.loads(x) for x in (FIXTURES / name / "expected.jsonl").read_text(encoding="utf-8").splitlines()]
    return [x for x in lines if mode is None or x["mode"] == mode]


def queries() -> list[dict[str, str]]:
    return [json.loads(x) for x in (FIXTURES / "queries.jsonl").read_text(encoding="utf-8").splitlines()]


def schema_of(db: Path) -> list[tuple[str, str, str]]:
    """sqlite_master as (type, name, sql), in a form two equal schemas share (order and quoting of names aside)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        rows = con.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    return sorted((t, n, " ".join((s or "").replace('"', "").split())) for t, n, s in rows)


def chunk_rows(db: Path) -> list[tuple[Any, ...]]:
    """Every passage as stored: id (the hnsw label), document path, ordinal, text, float16 vector bytes."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        return con.execute("SELECT c.id, d.path, c.ordinal, c.text, c.embedding FROM chunks c "
                           "JOIN documents d ON d.id = c.document_id ORDER BY c.id").fetchall()


def user_version(db: Path) -> int:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        return int(con.execute("PRAGMA user_version").fetchone()[0])
