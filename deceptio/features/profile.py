"""A few plain numbers about how a recording sounds: speech length, pitch and its range, pauses, level, tilt.

They describe the *recording*, not the verdict: the page uses them to say when a
recording is unlike what a model was trained on (a model's card holds the same
numbers' range over its training clips), and they are what a person can check
by ear.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from deceptio.errors import ParameterError
from deceptio.features.config import FeatureConfig
from deceptio.features.framing import fft_frequencies
from deceptio.features.spectral import mel_filterbank

__all__ = ["PROFILE_FIELDS", "VoiceProfile", "profile_ranges", "voice_profile"]


@dataclass(frozen=True)
class VoiceProfile:
    """Summary of the selected (speech) frames of one recording.

    Attributes
    ----------
    speech_s : float
        Seconds of selected frames.
    median_f0_hz : float
        Median F0 over the voiced selected frames; NaN when none is voiced.
    f0_range_st : float
        Pitch range: the 10th to the 90th percentile of voiced F0, in semitones.
    voiced_ratio : float
        Share of the selected frames that are voiced.
    pause_ratio : float
        Share of the span from the first to the last selected frame that is not selected (pauses).
    level_db : float
        Median frame RMS level over the selected frames, in dB re full scale.
    alpha_ratio_db : float
        Spectral tilt: energy from 1 to 5 kHz over energy from 50 Hz to 1 kHz, in dB (the
        alpha ratio of eGeMAPS), median over the selected frames; more negative is a steeper tilt.
    """

    speech_s: float
    median_f0_hz: float
    f0_range_st: float
    voiced_ratio: float
    pause_ratio: float
    level_db: float
    alpha_ratio_db: float

    def to_dict(self) -> dict[str, float | None]:
        return {key: (round(float(value), 3) if np.isfinite(value) else None) for key, value in asdict(self).items()}


PROFILE_FIELDS: tuple[str, ...] = tuple(VoiceProfile.__dataclass_fields__)


def _mel_band_centres(config: FeatureConfig) -> np.ndarray:
    weights = mel_filterbank(sample_rate=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels,
                             fmin=config.fmin, fmax=config.fmax)
    return (weights @ fft_frequencies(sample_rate=config.sample_rate, n_fft=config.n_fft)) / weights.sum(axis=1)


def _alpha_ratio_db(log_mel: np.ndarray, config: FeatureConfig) -> float:
    centres = _mel_band_centres(config)
    low, high = (centres >= 50) & (centres < 1000), (centres >= 1000) & (centres <= 5000)
    if not (low.any() and high.any()):
        return float("nan")
    power = 10.0 ** (np.asarray(log_mel, dtype=np.float64) / 10.0)
    ratio = 10.0 * np.log10(np.maximum(power[high].sum(axis=0), 1e-20) / np.maximum(power[low].sum(axis=0), 1e-20))
    return float(np.median(ratio))


def voice_profile(features: dict[str, np.ndarray], frames: np.ndarray, *, config: FeatureConfig) -> VoiceProfile:
    """The :class:`VoiceProfile` of ``frames`` (a boolean mask or sorted indices) of one recording's ``features``.

    ``features`` needs ``f0``, ``voiced``, ``rms_db`` and ``log_mel`` (as from
    :func:`deceptio.features.compute_features` with ``config``).
    """
    missing = [name for name in ("f0", "voiced", "rms_db", "log_mel") if name not in features]
    if missing:
        raise ParameterError(f"a voice profile needs the features {missing}")
    frames = np.asarray(frames)
    index = np.flatnonzero(frames) if frames.dtype == bool else frames.astype(np.int64)
    hop_s = config.hop_length / config.sample_rate
    nan = float("nan")
    if index.size == 0:
        return VoiceProfile(0.0, nan, nan, 0.0, nan, nan, nan)
    f0 = np.asarray(features["f0"])[index]
    voiced = np.asarray(features["voiced"])[index] & (f0 > 0)
    if voiced.sum() >= 2:
        low, high = np.percentile(f0[voiced], [10, 90])
        f0_range = float(12.0 * np.log2(high / low))
    else:
        f0_range = nan
    return VoiceProfile(
        speech_s=float(index.size * hop_s),
        median_f0_hz=float(np.median(f0[voiced])) if voiced.any() else nan,
        f0_range_st=f0_range,
        voiced_ratio=float(voiced.mean()),
        pause_ratio=float(1.0 - index.size / (index[-1] - index[0] + 1)),
        level_db=float(np.median(np.asarray(features["rms_db"])[index])),
        alpha_ratio_db=_alpha_ratio_db(np.asarray(features["log_mel"])[:, index], config),
    )


def profile_ranges(profiles: list[VoiceProfile], *, coverage: float = 0.95) -> dict[str, dict[str, float]]:
    """Central ``coverage`` range and median of each profile number over many recordings (a card's training ranges)."""
    if not 0 < coverage < 1:
        raise ParameterError(f"coverage={coverage} must be in (0, 1)")
    tail = (1 - coverage) / 2 * 100
    out = {}
    for name in PROFILE_FIELDS:
        values = np.array([getattr(p, name) for p in profiles], dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size:
            low, mid, high = np.percentile(values, [tail, 50, 100 - tail])
            out[name] = {"low": round(float(low), 3), "median": round(float(mid), 3), "high": round(float(high), 3)}
    out["coverage"] = coverage
    return out
