"""Speech-like synthetic audio for tests and benchmarks: voiced syllables with a moving pitch and pauses."""

from __future__ import annotations

import numpy as np

__all__ = ["synthetic_speech"]


def synthetic_speech(seconds: float, *, sample_rate: int = 16000, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """A harmonic voice whose pitch wanders around ``f0``, cut into syllables and pauses.

    Returns
    -------
    np.ndarray [shape=(round(seconds * sample_rate),)], float32 in [-0.3, 0.3]
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = f0 * (1 + 0.15 * np.sin(2 * np.pi * 0.7 * t) + 0.05 * rng.standard_normal())
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    harmonics = min(24, int(sample_rate / 2 / (1.25 * f0)))  # stay below Nyquist
    voice = sum(np.sin(k * phase) / k for k in range(1, harmonics + 1))
    syllables = (np.sin(2 * np.pi * 3.0 * t) > -0.2).astype(float)
    pauses = (np.sin(2 * np.pi * 0.23 * t + 1.0) > -0.8).astype(float)
    y = voice * syllables * pauses + 0.003 * rng.standard_normal(t.size)
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)
