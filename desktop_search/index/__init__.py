"""Index: bringing the stored index up to date with the library folders.

``plan`` decides what a run does (new, changed, moved, deleted files) and
``indexer`` carries it out; ``streams`` are its two halves, text committed
first and vectors behind; ``folders`` takes a folder out and keeps the
folder list's backup; ``progress`` is what a run reports, and
``library_info`` what the library holds, for `status` and the window.
"""
