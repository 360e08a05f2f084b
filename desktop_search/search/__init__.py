"""Search: from a query to ranked documents with their passages.

``searcher`` answers queries over a stored index (dense, keyword, hybrid),
``warmup`` pays at model load what a query should not (new shapes, GC walks);
``terms`` is the one vocabulary of words and locations that the front ends
share; ``coverage`` says when the model cannot read the library or a query.
Importing this package is cheap: the window's cards use ``terms`` before the
index or the model has loaded.
"""
