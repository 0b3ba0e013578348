"""Where things are by default: the shipped weights, the shared corpus, the cache. Imports nothing heavy."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["REPO", "DEFAULT_WEIGHTS", "default_corpus", "default_manifest", "default_cache_dir"]

REPO = Path(__file__).resolve().parent.parent  # the checkout (pip install -e .)
DEFAULT_WEIGHTS = REPO / "weights"


def default_corpus() -> Path:
    """The Real-life Trial corpus: ``$DECEPTIO_CORPUS``, else ``../shared/data/real-life-trial`` beside the checkout."""
    return Path(os.environ.get("DECEPTIO_CORPUS", REPO.parent / "shared" / "data" / "real-life-trial"))


def default_manifest() -> Path:
    """The corpus's ``manifest.csv`` (see :func:`default_corpus`)."""
    return default_corpus() / "manifest.csv"


def default_cache_dir() -> Path:
    """``$DECEPTIO_CACHE`` or ``~/.cache/deceptio``."""
    return Path(os.environ.get("DECEPTIO_CACHE", Path.home() / ".cache" / "deceptio"))
