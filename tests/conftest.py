"""Shared fixtures: a seeded generator, synthetic speech, the shared corpus when present."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from deceptio.synthetic import synthetic_speech  # noqa: F401  (tests import it from here)

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("DECEPTIO_CORPUS", REPO.parent / "shared" / "data" / "real-life-trial"))
WEIGHTS = Path(os.environ.get("DECEPTIO_TEST_WEIGHTS", REPO / "weights"))  # the weights the tests load


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "manifest.csv").is_file():
        pytest.skip(f"the Real-life Trial corpus is not at {CORPUS} (set DECEPTIO_CORPUS or place ../shared beside the repo)")
    return CORPUS
