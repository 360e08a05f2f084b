"""Opening an index written by another version: upgraded by a writer, read as it is by a reader,
refused if its storage schema differs."""
from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from sqlalchemy import update

from desktop_search.errors import IndexMismatchError
from desktop_search.storage import Store
from desktop_search.storage.schema import SCHEMA_VERSION, meta
from tests.storage.conftest import MANIFEST, record


def test_an_index_from_before_the_ngram_index_gets_it_on_open(data_dir, folder_id: int, store: Store, rng) -> None:
    rec = record("/library/ko.pdf", folder_id, 1, rng)
    rec.chunks[0].text = "신씨는 서울에 산다"
    store.commit_documents([rec])
    with store.engine.begin() as conn:  # as an older version left it
        conn.exec_driver_sql("DROP TRIGGER chunks_cjk_ai")
        conn.exec_driver_sql("DROP TRIGGER chunks_cjk_ad")
        conn.exec_driver_sql("DROP TABLE chunks_cjk")
        conn.exec_driver_sql("ALTER TABLE documents DROP COLUMN lang")
    store.close()
    with Store(data_dir.database, readonly=True) as reader:
        assert [n for _cid, n in reader.gram_search(["신씨"], 10)] == [1.0]  # scan fallback
        assert reader.language_counts() == {}
    with Store(data_dir.database) as upgraded:
        assert len(upgraded.gram_search(["신씨"], 10)) == 1
        assert upgraded.language_counts() == {None: 1}


@pytest.mark.parametrize(("version", "writer"), [(SCHEMA_VERSION - 1, "an older"), (SCHEMA_VERSION + 1, "a newer")])
def test_an_index_of_another_storage_schema_is_refused(data_dir, store: Store, version: int, writer: str) -> None:
    manifest = json.dumps({**asdict(MANIFEST), "schema_version": version})
    with store.engine.begin() as conn:
        conn.execute(update(meta).where(meta.c.key == "manifest").values(value=manifest))
    store.close()
    for readonly in (False, True):
        with pytest.raises(IndexMismatchError, match=f"{writer} version of desktop-search.*--rebuild"):
            Store(data_dir.database, readonly=readonly)
