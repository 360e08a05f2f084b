"""Index: bringing the stored index up to date with the library folders.

``indexer`` plans a run (new, changed, moved, deleted files) and drives it;
``streams`` are its two halves, text committed first and vectors behind;
``progress`` is what a run reports, and ``library_info`` what the library
holds, for `status` and the window.
"""
