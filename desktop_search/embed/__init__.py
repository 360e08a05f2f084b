"""Embed: text to L2-normalised vectors, and the models that make them.

``models`` finds a model on disk (the catalogue, the installed default),
``download`` fetches a catalogue model when the user asks, ``tokenizer``
reads its ``tokenizer.json``, and ``embedder`` runs it (``encoder`` is the
plain-BERT forward in torch). Importing this package loads no torch.
"""
