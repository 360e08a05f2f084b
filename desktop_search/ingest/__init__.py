"""Ingest: from a folder on disk to located, token-sized passages.

``crawl`` finds the files, ``extract`` reads each into segments that know
their page or chapter, ``chunking`` cuts them into passages with the model's
own tokenizer, and ``pool`` runs reading and cutting in worker processes,
each file under a timeout. ``retry`` decides which failed files are worth
reading again. Nothing here touches the index: :mod:`desktop_search.index`
stores what comes out.
"""
