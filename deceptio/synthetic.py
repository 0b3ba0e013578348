"""Speech-like synthetic audio for tests and benchmarks: voiced syllables with a moving pitch and pauses."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["synthetic_corpus", "synthetic_speech"]


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


def synthetic_corpus(folder: str | Path, *, speakers: int = 8) -> Path:
    """A tiny labelled corpus in ``folder``, laid out like the Real-life Trial one; returns its manifest.

    Two clips per speaker, half the speakers deceptive, two of them also
    telling the other label once (within-speaker pairs); each clip has 6 s of
    the subject and 2 s of an interviewer at another pitch, with speaker turns.
    Nothing in it is deceptive: it exercises training and evaluation, it
    measures nothing.
    """
    import soundfile as sf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["path,label,speaker,gender,turns"]
    for s in range(speakers):
        label = "deceptive" if s % 2 else "truthful"
        gender = "F" if s % 4 < 2 else "M"
        for c in range(2):
            clip_label = label if c == 0 or s > 1 else ("truthful" if label == "deceptive" else "deceptive")
            y = np.concatenate([synthetic_speech(6.0, f0=110 + 15 * s, seed=10 * s + c),
                                synthetic_speech(2.0, f0=90, seed=1000 + s)])
            sf.write(folder / f"clip{s}_{c}.wav", y, 16000)
            (folder / f"clip{s}_{c}.csv").write_text("start,end,speaker,role,gender\n0.0,6.0,1,subject,F\n6.0,8.0,TM,other,M\n")
            rows.append(f"clip{s}_{c}.wav,{clip_label},spk{s},{gender},clip{s}_{c}.csv")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest
