"""One writer per data dir."""
from __future__ import annotations

import pytest

from desktop_search.errors import IndexBusyError
from desktop_search.storage.lock import WriterLock


def test_second_writer_is_refused_until_the_first_releases(data_dir) -> None:
    with WriterLock(data_dir.lock):
        with pytest.raises(IndexBusyError, match="busy"):
            WriterLock(data_dir.lock).acquire()
    with WriterLock(data_dir.lock):
        pass
