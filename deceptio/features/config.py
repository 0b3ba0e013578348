"""The acoustic front end's settings, checked once and stored with every model."""

from __future__ import annotations

from dataclasses import dataclass

from deceptio.audio.io import HOP_LENGTH, SAMPLE_RATE
from deceptio.errors import ParameterError
from deceptio.features.pitch import _lag_range
from deceptio.features.spectral import mel_filterbank
from deceptio.settings import Settings, setting

__all__ = ["FeatureConfig", "LEGACY_FEATURES"]

# What a stored card or report that predates a setting meant by it: these are the values it was computed with.
LEGACY_FEATURES: dict[str, object] = {"voicing_floor_db": 0.0, "f0_octave_fix": False}


@dataclass(frozen=True)
class FeatureConfig(Settings):
    """Settings of every feature; a model card stores them so weights meet the features they were trained on.

    Raises
    ------
    ParameterError
        On construction, naming the field and its value, if any setting has the
        wrong type, is out of range or is inconsistent with another.

    Examples
    --------
    >>> FeatureConfig(n_mels=40).to_dict()["n_mels"]
    40
    >>> FeatureConfig(lpc_order=15)
    Traceback (most recent call last):
    ...
    deceptio.errors.ParameterError: FeatureConfig.lpc_order=15 must be an even integer > 0 ...
    """

    # Upper bounds keep the checks below from allocating gigabytes or overflowing on a typo.
    sample_rate: int = setting(SAMPLE_RATE, gt=0, le=192000)  # Hz; audio is resampled to this before analysis
    hop_length: int = setting(HOP_LENGTH, gt=0)  # 10 ms between frames, shared by every feature and the VAD
    n_fft: int = setting(512, gt=0, le=16384)  # 32 ms FFT: 31.25 Hz bins
    win_length: int = setting(400, gt=0)  # 25 ms Hann window, centred in n_fft
    n_mels: int = setting(64, gt=0, le=512)
    fmin: float = setting(50.0, ge=0)  # Hz, lowest mel band edge
    fmax: float = setting(8000.0, gt=0)  # Hz, highest mel band edge (<= Nyquist)
    n_mfcc: int = setting(20, gt=0)
    lpc_order: int = setting(16, gt=0)  # even, because line spectral frequencies come in P/Q pairs
    lpc_frame_length: int = setting(400, gt=0)  # 25 ms, Hamming-windowed
    # Applied to the LPC/LSF input only: without it LPC spends poles on the
    # low-frequency tilt of voiced speech instead of on the formants. 0 disables.
    pre_emphasis: float = setting(0.97, ge=0, lt=1)
    f0_min: float = setting(60.0, ge=1)  # Hz
    f0_max: float = setting(500.0, gt=0)  # Hz
    f0_frame_length: int = setting(1024, gt=0)  # 64 ms: two periods of f0_min plus margin for YIN
    voicing_threshold: float = setting(0.25, gt=0, lt=1)  # YIN aperiodicity below which a frame is voiced
    # The F0 the models read is cleaned (issue 16): frames more than voicing_floor_db below the recording's
    # loud frames (95th percentile level) are unvoiced (YIN calls dither in pauses periodic), and octave jumps
    # are halved or doubled back onto the contour. A card written before these settings existed read neither:
    # LEGACY_FEATURES gives the values such a card means.
    voicing_floor_db: float = setting(40.0, ge=0, le=120)  # dB; 0 keeps every YIN-voiced frame
    f0_octave_fix: bool = setting(True)
    n_contrast_bands: int = setting(6, gt=0, le=32)  # octaves above contrast_fmin; one more band below it
    contrast_fmin: float = setting(200.0, gt=0)  # Hz, upper edge of the lowest contrast band

    def _check(self) -> None:
        nyquist = self.sample_rate / 2
        self._require("win_length", self.win_length <= self.n_fft, f"<= n_fft={self.n_fft}")
        self._require("fmin", self.fmin < self.fmax, f"< fmax={self.fmax}")
        self._require("fmax", self.fmax <= nyquist, f"<= sample_rate / 2 = {nyquist}")
        try:  # raises, naming n_mels, if a mel filter would fall between two FFT bins
            mel_filterbank(
                sample_rate=self.sample_rate, n_fft=self.n_fft, n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax
            )
        except ParameterError as error:
            raise ParameterError(f"FeatureConfig.{error}") from None
        self._require("n_mfcc", self.n_mfcc <= self.n_mels, f"<= n_mels={self.n_mels}")
        self._require(
            "lpc_order", self.lpc_order % 2 == 0, "an even integer > 0 (line spectral frequencies pair up)"
        )
        self._require("lpc_frame_length", self.lpc_frame_length > self.lpc_order, f"> lpc_order={self.lpc_order}")
        self._require("f0_min", self.f0_min < self.f0_max, f"< f0_max={self.f0_max}")
        self._require("f0_max", self.f0_max <= nyquist, f"<= sample_rate / 2 = {nyquist}")
        _, tau_max = _lag_range(sample_rate=self.sample_rate, f0_min=self.f0_min, f0_max=self.f0_max)
        self._require(
            "f0_frame_length",
            self.f0_frame_length >= 2 * (tau_max + 1),
            f">= {2 * (tau_max + 1)} to hold two periods of f0_min={self.f0_min} Hz",
        )
        bin_width = self.sample_rate / self.n_fft
        top_bin = self.n_fft // 2 * bin_width
        self._require(
            "contrast_fmin",
            bin_width <= self.contrast_fmin and self.contrast_fmin * 2 ** (self.n_contrast_bands - 1) <= top_bin,
            f">= {bin_width} Hz with contrast_fmin * 2^(n_contrast_bands - 1) <= {top_bin} Hz "
            f"(n_contrast_bands={self.n_contrast_bands}), so that every octave band holds an FFT bin",
        )
