"""Shared fixtures: a seeded generator, synthetic speech, the shared corpus when present."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("DECEPTIO_CORPUS", REPO.parent / "shared" / "data" / "real-life-trial"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def synthetic_speech(seconds: float, *, sample_rate: int = 16000, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """Voiced syllables with a moving pitch, formant-like colouring and pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = f0 * (1 + 0.15 * np.sin(2 * np.pi * 0.7 * t) + 0.05 * rng.standard_normal() )
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 25))
    syllables = (np.sin(2 * np.pi * 3.0 * t) > -0.2).astype(float)
    pauses = (np.sin(2 * np.pi * 0.23 * t + 1.0) > -0.8).astype(float)
    y = voice * syllables * pauses + 0.003 * rng.standard_normal(t.size)
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "manifest.csv").is_file():
        pytest.skip(f"the Real-life Trial corpus is not at {CORPUS} (set DECEPTIO_CORPUS or place ../shared beside the repo)")
    return CORPUS
