"""Named pause points, so crash-safety tests can kill the indexer at an exact moment.

Off unless ``DESKTOP_SEARCH_PAUSE_AT`` is set (tests only). With
``DESKTOP_SEARCH_PAUSE_AT=embedding,committing`` and
``DESKTOP_SEARCH_PAUSE_DIR=/some/folder``, the first time a process reaches a
listed point (or the Nth time, for ``point@N``) it writes ``<folder>/<point>.reached`` (holding its pid) and waits
until ``<folder>/<point>.go`` exists (at most ``MAX_WAIT_S``). A test can then
SIGKILL it mid-step, or change files and let it go on.

Points: ``planned`` (crawl compared with the store, nothing changed yet),
``extracting`` (first file back from the readers, nothing of it committed),
``committing`` (inside a keyword write transaction: documents and passages
inserted, not committed), ``embedding`` (a batch of committed passages about
to be embedded), ``committing-vectors`` (inside a vector write transaction,
embeddings written, not committed), ``saving`` (hnsw file replaced, sidecar
not yet written), ``topk-written`` (a new top-k index written, its pointer
not yet). Opening an index of an older format: ``backing-up`` (the
backup copy written under a temporary name, not yet renamed),
``migrating-rebuilt`` (inside the 0 -> 3 step's transaction, the tables
rewritten, not committed), ``migrating-trigram`` (inside the 4 -> 5 step's
transaction, the trigram index built again, the vocabulary not yet filled),
``migrating`` (inside a step's transaction, all of
it done, not committed; ``migrating@2`` is the second step of the upgrade).
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

logger = logging.getLogger(__name__)

ENV_POINTS = "DESKTOP_SEARCH_PAUSE_AT"
ENV_DIR = "DESKTOP_SEARCH_PAUSE_DIR"
MAX_WAIT_S = 120.0
_seen: dict[str, int] = {}


def checkpoint(name: str) -> None:
    """Pause here if a test asked for it; otherwise return at once."""
    points = os.environ.get(ENV_POINTS)
    if not points:
        return
    wanted = dict((p.split("@") + ["1"])[:2] for p in points.split(","))
    if name not in wanted:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] != int(wanted[name]):
        return
    folder = Path(os.environ.get(ENV_DIR, "."))
    (folder / f"{name}.reached").write_text(str(os.getpid()))
    logger.info("Paused at checkpoint %r", name)
    deadline = time.monotonic() + MAX_WAIT_S
    while not (folder / f"{name}.go").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
