"""One writer per data dir, enforced by an OS file lock.

The lock dies with its process, so a kill -9 never leaves a stale lock.
A process knows which locks it holds (:meth:`WriterLock.held`), so the
format upgrade that opening a store may need runs under the caller's lock
rather than trying to take it a second time.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from types import TracebackType

from desktop_search.errors import IndexBusyError, StorageError

_held: set[Path] = set()  # lock files this process holds


class WriterLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StorageError(f"Cannot write to the data folder {self.path.parent}: {exc.strerror or exc}") from exc
        try:
            if sys.platform == "win32":
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise IndexBusyError(
                "The index is busy: another desktop-search is updating it. "
                "Searching still works; try indexing again when it has finished."
            ) from exc
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        _held.add(self.path.absolute())

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None
            _held.discard(self.path.absolute())

    @staticmethod
    def held(path: Path) -> bool:
        """Whether this process holds the lock at ``path``."""
        return path.absolute() in _held

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
