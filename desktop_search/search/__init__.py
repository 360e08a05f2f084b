"""Search: from a query to ranked documents with their passages.

``searcher`` answers queries over a stored index (dense, keyword, hybrid):
it runs the legs for a mode and combines what they return. ``query`` parses
the text typed; ``keyword`` (bm25 over FTS5) and ``dense`` (hnswlib) are the
two legs; ``fusion`` weighs and merges their rankings; ``grouping`` turns
passages into documents; ``results`` are the types handed back. ``terms``
is the one vocabulary of words and locations that the front ends share;
``coverage`` says when the model cannot read the library or a query;
``warmup`` pays at model load what a query should not (new shapes, GC walks).
Importing this package is cheap: the window's cards use ``terms`` before the
index or the model has loaded.
"""
