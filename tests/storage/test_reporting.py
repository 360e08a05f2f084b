"""What the index holds, counted."""
from __future__ import annotations

from desktop_search.language import Lang
from desktop_search.storage import Store
from tests.storage.conftest import record


def test_language_counts_per_document(store: Store, folder_id: int, rng) -> None:
    for i, lang in enumerate([Lang.JAPANESE, Lang.JAPANESE, Lang.LATIN]):
        rec = record(f"/library/{i}.pdf", folder_id, 1, rng)
        rec.lang = lang
        store.commit_documents([rec])
    assert store.language_counts() == {Lang.JAPANESE: 2, Lang.LATIN: 1}
