"""Datasets: identity folders (``folder``), ``lrface-prepare`` (``prepare``) and the offline
synthetic identities (``synthetic``)."""
