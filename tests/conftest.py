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


@pytest.fixture(scope="session")
def tiny_emodb(tmp_path_factory) -> Path:
    """An EmoDB-shaped folder (its manifest's columns): 4 speakers, each with high-arousal (higher, louder) and
    low-arousal clips, and a "mid" one; what a test's pretraining reads instead of the real corpus (seconds, not minutes)."""
    import csv

    import soundfile as sf

    root = tmp_path_factory.mktemp("emodb")
    (root / "audio").mkdir()
    rows = []
    for s, (speaker, gender, f0) in enumerate((("03", "M", 110.0), ("08", "F", 210.0), ("10", "M", 120.0), ("13", "F", 200.0))):
        for k, arousal in enumerate(("high", "low", "high", "low", "mid")):
            y = synthetic_speech(2.5, f0=f0 * (1.5 if arousal == "high" else 1.0), seed=10 * s + k)
            name = f"audio/{speaker}a0{k}X{arousal[0]}.flac"
            sf.write(root / name, y * (1.0 if arousal == "high" else 0.4), 16000)
            rows.append({"path": name, "speaker": speaker, "gender": gender, "arousal": arousal})
    with open(root / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "speaker", "gender", "arousal"])
        writer.writeheader()
        writer.writerows(rows)
    return root
