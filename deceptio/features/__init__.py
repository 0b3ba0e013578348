"""Frame-aligned acoustic features of one recording, by name, from one shared analysis."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterable

import numpy as np

from deceptio.errors import ParameterError
from deceptio.features.config import FeatureConfig
from deceptio.features.framing import _as_signal, fft_frequencies, frame_signal, power_spectrogram
from deceptio.features.lpc import line_spectral_frequencies, lpc, lpc_from_frames, lsf_to_lpc
from deceptio.features.pitch import fundamental_frequency
from deceptio.features.spectral import (
    deltas,
    log_mel_spectrogram,
    mel_filterbank,
    mfcc,
    rms_db,
    spectral_centroid,
    spectral_contrast,
)

__all__ = [
    "FEATURES",
    "Feature",
    "FeatureConfig",
    "compute_features",
    "deltas",
    "fft_frequencies",
    "frame_signal",
    "fundamental_frequency",
    "line_spectral_frequencies",
    "log_mel_spectrogram",
    "lpc",
    "lpc_from_frames",
    "lsf_to_lpc",
    "mel_filterbank",
    "mfcc",
    "power_spectrogram",
    "rms_db",
    "spectral_centroid",
    "spectral_contrast",
]


class _Analysis:
    """The intermediate results of one recording, each computed at most once and only if needed."""

    def __init__(self, y: np.ndarray, config: FeatureConfig) -> None:
        self.y = y
        self.config = config

    @cached_property
    def power(self) -> np.ndarray:
        c = self.config
        return power_spectrogram(self.y, n_fft=c.n_fft, hop_length=c.hop_length, win_length=c.win_length)

    @cached_property
    def log_mel(self) -> np.ndarray:
        c = self.config
        return log_mel_spectrogram(
            S=self.power, sample_rate=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax
        )

    @cached_property
    def lpc(self) -> np.ndarray:
        c = self.config
        return lpc(
            self.y,
            order=c.lpc_order,
            frame_length=c.lpc_frame_length,
            hop_length=c.hop_length,
            pre_emphasis=c.pre_emphasis,
        )

    @cached_property
    def pitch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = self.config
        return fundamental_frequency(
            self.y,
            sample_rate=c.sample_rate,
            hop_length=c.hop_length,
            frame_length=c.f0_frame_length,
            f0_min=c.f0_min,
            f0_max=c.f0_max,
            voicing_threshold=c.voicing_threshold,
        )


@dataclass(frozen=True)
class Feature:
    """A feature :func:`compute_features` can produce: what it is, for people and shape checks."""

    name: str
    description: str  # one line, for a UI
    unit: str  # "" when dimensionless
    shape: str  # in terms of FeatureConfig fields and T, the number of frames
    extract: Callable[[_Analysis], np.ndarray] = field(repr=False, compare=False)


FEATURES: dict[str, Feature] = {
    feature.name: feature
    for feature in (
        Feature("log_mel", "Log-power mel spectrogram", "dB", "(n_mels, T)", lambda analysis: analysis.log_mel),
        Feature(
            "mfcc",
            "Mel-frequency cepstral coefficients c0 to c(n_mfcc - 1)",
            "dB",
            "(n_mfcc, T)",
            lambda analysis: mfcc(log_mel=analysis.log_mel, n_mfcc=analysis.config.n_mfcc),
        ),
        Feature(
            "lpc",
            "Linear-prediction coefficients a1 to ap of the pre-emphasised signal",
            "",
            "(lpc_order, T)",
            lambda analysis: analysis.lpc[1:],
        ),
        Feature(
            "lsf",
            "Line spectral frequencies of the linear-prediction filter",
            "rad",
            "(lpc_order, T)",
            lambda analysis: line_spectral_frequencies(analysis.lpc),
        ),
        Feature(
            "f0", "Fundamental frequency (YIN), 0 where unvoiced", "Hz", "(T,)", lambda analysis: analysis.pitch[0]
        ),
        Feature("voiced", "Whether the frame is voiced", "", "(T,)", lambda analysis: analysis.pitch[1]),
        Feature(
            "aperiodicity",
            "YIN aperiodicity: 0 periodic, 1 noise or silence",
            "",
            "(T,)",
            lambda analysis: analysis.pitch[2],
        ),
        Feature(
            "centroid",
            "Spectral centroid",
            "Hz",
            "(T,)",
            lambda analysis: spectral_centroid(
                S=analysis.power, sample_rate=analysis.config.sample_rate, n_fft=analysis.config.n_fft
            ),
        ),
        Feature(
            "contrast",
            "Spectral contrast in octave bands",
            "dB",
            "(n_contrast_bands + 1, T)",
            lambda analysis: spectral_contrast(
                S=analysis.power,
                sample_rate=analysis.config.sample_rate,
                n_fft=analysis.config.n_fft,
                n_bands=analysis.config.n_contrast_bands,
                fmin=analysis.config.contrast_fmin,
            ),
        ),
        Feature(
            "rms_db",
            "Frame energy (window-weighted mean square)",
            "dB",
            "(T,)",
            lambda analysis: rms_db(
                S=analysis.power, n_fft=analysis.config.n_fft, win_length=analysis.config.win_length
            ),
        ),
    )
}


def compute_features(
    y: np.ndarray, *, config: FeatureConfig = FeatureConfig(), names: Iterable[str] | None = None
) -> dict[str, np.ndarray]:
    """Compute features of one recording, all on the same frames.

    The STFT, LPC and pitch analyses run once each, and only if a requested
    feature needs them.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Audio at ``config.sample_rate``, floating point and finite.
    config : FeatureConfig
        Analysis settings.
    names : iterable of str, optional
        Keys of :data:`FEATURES` to compute; all of them if None.

    Returns
    -------
    features : dict[str, np.ndarray]
        Name to array, in the order of ``names``, each with
        ``T = 1 + n // config.hop_length`` frames on its last axis; float32
        except ``"voiced"`` (bool). Shapes as in ``FEATURES[name].shape``.

    Raises
    ------
    ParameterError
        If ``y`` is not a finite 1-D float signal, ``config`` is not a
        FeatureConfig, or a name is unknown (the message lists the known ones).

    Examples
    --------
    >>> y = np.random.default_rng(0).standard_normal(16000) * 0.1
    >>> {k: v.shape for k, v in compute_features(y, names=["mfcc", "f0"]).items()}
    {'mfcc': (20, 101), 'f0': (101,)}
    """
    if not isinstance(config, FeatureConfig):
        raise ParameterError(f"config must be a FeatureConfig, got {type(config).__name__}")
    if isinstance(names, str):
        raise ParameterError(f"names must be a list of feature names, got the string {names!r}")
    names = list(FEATURES) if names is None else list(dict.fromkeys(names))
    unknown = [name for name in names if name not in FEATURES]
    if unknown:
        raise ParameterError(f"unknown features {unknown}; known features are {list(FEATURES)}")
    analysis = _Analysis(_as_signal(y), config)
    features = {}
    for name in names:
        value = FEATURES[name].extract(analysis)
        features[name] = value if value.dtype == bool else value.astype(np.float32)
    return features
