"""Shared fixtures: a seeded generator, synthetic speech, the shared corpus when present."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from deceptio.paths import default_corpus
from deceptio.synthetic import synthetic_speech  # noqa: F401  (tests import it from here)

REPO = Path(__file__).resolve().parent.parent
CORPUS = default_corpus()
WEIGHTS = Path(os.environ.get("DECEPTIO_TEST_WEIGHTS", REPO / "weights"))  # the weights the tests load


def fastest(function, runs: int = 3) -> float:
    """Seconds of the fastest of ``runs`` calls: another process on a small machine can only slow a run down."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "manifest.csv").is_file():
        pytest.skip(f"the Real-life Trial corpus is not at {CORPUS} (set DECEPTIO_CORPUS or place ../shared beside the repo)")
    return CORPUS
