"""The acoustic front end's settings, checked once and stored with every model."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

from deceptio.errors import ParameterError
from deceptio.features.pitch import _lag_range
from deceptio.features.spectral import mel_filterbank

__all__ = ["FeatureConfig"]


@dataclass(frozen=True)
class FeatureConfig:
    """Settings of every feature; a model card stores them so weights meet the features they were trained on.

    Raises
    ------
    ParameterError
        On construction, naming the field and its value, if any setting is out
        of range or inconsistent with another.

    Examples
    --------
    >>> FeatureConfig(n_mels=40).to_dict()["n_mels"]
    40
    >>> FeatureConfig(lpc_order=15)
    Traceback (most recent call last):
    ...
    deceptio.errors.ParameterError: lpc_order=15 must be an even integer > 0 ...
    """

    sample_rate: int = 16000  # Hz; audio is resampled to this before analysis
    hop_length: int = 160  # 10 ms between frames, shared by every feature
    n_fft: int = 512  # 32 ms FFT: 31.25 Hz bins
    win_length: int = 400  # 25 ms Hann window, centred in n_fft
    n_mels: int = 64
    fmin: float = 50.0  # Hz, lowest mel band edge
    fmax: float = 8000.0  # Hz, highest mel band edge (<= Nyquist)
    n_mfcc: int = 20
    lpc_order: int = 16  # even, because line spectral frequencies come in P/Q pairs
    lpc_frame_length: int = 400  # 25 ms, Hamming-windowed
    # Applied to the LPC/LSF input only: without it LPC spends poles on the
    # low-frequency tilt of voiced speech instead of on the formants. 0 disables.
    pre_emphasis: float = 0.97
    f0_min: float = 60.0  # Hz
    f0_max: float = 500.0  # Hz
    f0_frame_length: int = 1024  # 64 ms: two periods of f0_min plus margin for YIN
    voicing_threshold: float = 0.25  # YIN aperiodicity below which a frame is voiced
    n_contrast_bands: int = 6  # octaves above contrast_fmin; one more band below it
    contrast_fmin: float = 200.0  # Hz, upper edge of the lowest contrast band

    def __post_init__(self) -> None:
        # Plain Python numbers only, so that the config stays JSON-ready.
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "int":
                if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                    raise ParameterError(f"{field.name}={value!r} must be an integer > 0")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ParameterError(f"{field.name}={value!r} must be a finite number")

        nyquist = self.sample_rate / 2
        if self.win_length > self.n_fft:
            raise ParameterError(f"win_length={self.win_length} must be <= n_fft={self.n_fft}")
        if not 0 <= self.fmin < self.fmax <= nyquist:
            raise ParameterError(
                f"need 0 <= fmin < fmax <= sample_rate / 2 = {nyquist}, "
                f"got fmin={self.fmin}, fmax={self.fmax}"
            )
        # Raises, naming n_mels, if a mel filter would fall between two FFT bins.
        mel_filterbank(
            sample_rate=self.sample_rate, n_fft=self.n_fft, n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax
        )
        if self.n_mfcc > self.n_mels:
            raise ParameterError(f"n_mfcc={self.n_mfcc} must be <= n_mels={self.n_mels}")
        if self.lpc_order % 2:
            raise ParameterError(
                f"lpc_order={self.lpc_order} must be an even integer > 0 "
                "(line spectral frequencies pair up)"
            )
        if self.lpc_frame_length <= self.lpc_order:
            raise ParameterError(
                f"lpc_frame_length={self.lpc_frame_length} must exceed lpc_order={self.lpc_order}"
            )
        if not 0 <= self.pre_emphasis < 1:
            raise ParameterError(f"pre_emphasis={self.pre_emphasis} must be in [0, 1)")
        if not 0 < self.f0_min < self.f0_max <= nyquist:
            raise ParameterError(
                f"need 0 < f0_min < f0_max <= sample_rate / 2 = {nyquist}, "
                f"got f0_min={self.f0_min}, f0_max={self.f0_max}"
            )
        _, tau_max = _lag_range(sample_rate=self.sample_rate, f0_min=self.f0_min, f0_max=self.f0_max)
        if self.f0_frame_length < 2 * (tau_max + 1):
            raise ParameterError(
                f"f0_frame_length={self.f0_frame_length} must be >= {2 * (tau_max + 1)} "
                f"to hold two periods of f0_min={self.f0_min} Hz"
            )
        if not 0 < self.voicing_threshold < 1:
            raise ParameterError(f"voicing_threshold={self.voicing_threshold} must be in (0, 1)")
        bin_width = self.sample_rate / self.n_fft
        top_bin = self.n_fft // 2 * bin_width
        if not (bin_width <= self.contrast_fmin and self.contrast_fmin * 2 ** (self.n_contrast_bands - 1) <= top_bin):
            raise ParameterError(
                f"contrast_fmin={self.contrast_fmin} with n_contrast_bands={self.n_contrast_bands} must give "
                f"every octave band an FFT bin: contrast_fmin >= {bin_width} Hz and "
                f"contrast_fmin * 2^(n_contrast_bands - 1) <= {top_bin} Hz"
            )

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict, field name to value."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> FeatureConfig:
        """Rebuild a config from :meth:`to_dict` output; missing keys take their defaults.

        Raises
        ------
        ParameterError
            If ``values`` has keys that are not fields (a card written by
            another version), naming them, or if a value is invalid.
        """
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParameterError(
                f"unknown FeatureConfig keys {unknown}; known keys are {sorted(known)}"
            )
        return cls(**values)
