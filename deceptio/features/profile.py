"""A few plain numbers about how a recording sounds: speech length, typical pitch, level.

They describe the *recording*, not the verdict: the page uses them to say when a
recording is unlike what a model was trained on (a model's card holds the same
numbers' range over its training clips), and they are what a person can check
by ear.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from deceptio.errors import ParameterError

__all__ = ["VoiceProfile", "profile_ranges", "voice_profile"]


@dataclass(frozen=True)
class VoiceProfile:
    """Summary of the selected (speech) frames of one recording.

    Attributes
    ----------
    speech_s : float
        Seconds of selected frames.
    median_f0_hz : float
        Median F0 over the voiced selected frames; NaN when none is voiced.
    voiced_ratio : float
        Share of the selected frames that are voiced.
    level_db : float
        Median frame RMS level over the selected frames, in dB re full scale.
    """

    speech_s: float
    median_f0_hz: float
    voiced_ratio: float
    level_db: float

    def to_dict(self) -> dict[str, float]:
        return {key: (round(float(value), 3) if np.isfinite(value) else None) for key, value in asdict(self).items()}


def voice_profile(features: dict[str, np.ndarray], frames: np.ndarray, *, hop_s: float) -> VoiceProfile:
    """The :class:`VoiceProfile` of ``frames`` (a boolean mask or indices) of one recording's ``features``.

    ``features`` needs ``f0``, ``voiced`` and ``rms_db`` (as from
    :func:`deceptio.features.compute_features`).
    """
    missing = [name for name in ("f0", "voiced", "rms_db") if name not in features]
    if missing:
        raise ParameterError(f"a voice profile needs the features {missing}")
    frames = np.asarray(frames)
    index = np.flatnonzero(frames) if frames.dtype == bool else frames.astype(np.int64)
    if not hop_s > 0:
        raise ParameterError(f"hop_s={hop_s} must be > 0")
    if index.size == 0:
        return VoiceProfile(speech_s=0.0, median_f0_hz=float("nan"), voiced_ratio=0.0, level_db=float("nan"))
    f0 = np.asarray(features["f0"])[index]
    voiced = np.asarray(features["voiced"])[index] & (f0 > 0)
    return VoiceProfile(
        speech_s=float(index.size * hop_s),
        median_f0_hz=float(np.median(f0[voiced])) if voiced.any() else float("nan"),
        voiced_ratio=float(voiced.mean()),
        level_db=float(np.median(np.asarray(features["rms_db"])[index])),
    )


def profile_ranges(profiles: list[VoiceProfile], *, coverage: float = 0.95) -> dict[str, dict[str, float]]:
    """Central ``coverage`` range and median of each profile number over many recordings (a card's training ranges)."""
    if not 0 < coverage < 1:
        raise ParameterError(f"coverage={coverage} must be in (0, 1)")
    tail = (1 - coverage) / 2 * 100
    out = {}
    for name in ("speech_s", "median_f0_hz", "voiced_ratio", "level_db"):
        values = np.array([getattr(p, name) for p in profiles], dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size:
            low, mid, high = np.percentile(values, [tail, 50, 100 - tail])
            out[name] = {"low": round(float(low), 3), "median": round(float(mid), 3), "high": round(float(high), 3)}
    out["coverage"] = coverage
    return out
