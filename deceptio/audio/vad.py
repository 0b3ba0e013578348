"""Which frames of a recording hold speech: an adaptive energy detector, configured by the model card."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deceptio.audio.io import HOP_LENGTH, SAMPLE_RATE
from deceptio.errors import ParameterError
from deceptio.settings import Settings, positive_int, setting

__all__ = ["VADConfig", "speech_mask", "speech_segments"]

# Levels are clamped here so digital silence counts as a very quiet floor
# rather than minus infinity (16-bit quantisation noise sits near -101 dBFS).
_SILENCE_DB = -90.0


@dataclass(frozen=True)
class VADConfig(Settings):
    """The speech detector's settings; a model card stores them, since they choose the frames a model reads.

    Raises
    ------
    ParameterError
        When a field is out of its domain; the message names field and value.
    """

    frame_length: int = setting(320, gt=0)  # 20 ms energy window, centred on each frame; longer ones smear the edges
    floor_db: float = setting(-55.0, le=0)  # nothing quieter than this (dBFS RMS) is speech
    noise_percentile: float = setting(10.0, ge=0, le=100)  # frame level taken as the noise floor
    loud_percentile: float = setting(95.0, ge=0, le=100)  # frame level taken as loud speech
    threshold_ratio: float = setting(0.3, ge=0, le=1)  # threshold sits this far from noise floor to loud speech
    min_snr_db: float = setting(6.0, ge=0)  # ... and at least this far above the noise floor
    min_gap_s: float = setting(0.3, ge=0)  # pauses shorter than this stay inside the speech
    min_island_s: float = setting(0.1, ge=0)  # bursts shorter than this (clicks) are not speech

    def _check(self) -> None:
        self._require("loud_percentile", self.loud_percentile > self.noise_percentile,
                      f"above noise_percentile={self.noise_percentile!r}")


def speech_mask(
    y: np.ndarray,
    config: VADConfig = VADConfig(),
    *,
    sample_rate: int = SAMPLE_RATE,
    hop_length: int = HOP_LENGTH,
) -> np.ndarray:
    """Mark the frames that hold speech, by energy.

    A frame is speech when its RMS level (over ``config.frame_length`` samples) is above ``floor_db`` and above an
    adaptive threshold: ``threshold_ratio`` of the way from the recording's
    noise floor (its ``noise_percentile`` level) to its loud frames (its
    ``loud_percentile`` level), and at least ``min_snr_db`` over the noise
    floor. Digitally silent frames are left out of both percentiles. Pauses
    shorter than ``min_gap_s`` are then filled and bursts shorter than
    ``min_island_s`` dropped.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono samples, full scale 1.0.
    config : VADConfig
        The thresholds (a model card's, when scoring).
    sample_rate : int > 0
    hop_length : int > 0
        Frame ``t`` is centred on sample ``t * hop_length`` (the features' hop).

    Returns
    -------
    mask : np.ndarray [shape=(1 + n // hop_length,), dtype=bool]

    Raises
    ------
    ParameterError
        When ``y`` is not a finite 1-D array or a parameter is out of range.

    Examples
    --------
    >>> y = np.zeros(16000, dtype=np.float32)
    >>> y[4000:12000] = 0.1 * np.sin(np.arange(8000))
    >>> int(speech_mask(y).sum())  # 50 frames of tone, and the one centred on its end
    51
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind != "f" or not np.isfinite(y).all():
        raise ParameterError(f"y must be a finite 1-D float array, not {y.dtype} with shape {y.shape}")
    sample_rate, hop_length = positive_int("sample_rate", sample_rate), positive_int("hop_length", hop_length)
    if not isinstance(config, VADConfig):
        raise ParameterError(f"config must be a VADConfig, not {type(config).__name__}")
    c = config
    n_frames = 1 + len(y) // hop_length
    # Zero padding keeps every frame centred on t * hop_length, as the features' frames are.
    left = c.frame_length // 2
    padded = np.zeros(len(y) + c.frame_length + 1)
    padded[left + 1 : left + 1 + len(y)] = np.square(y, dtype=np.float64)
    energy = np.cumsum(padded)
    starts = np.arange(n_frames) * hop_length
    power = (energy[starts + c.frame_length] - energy[starts]) / c.frame_length
    level_db = 10.0 * np.log10(np.maximum(power, 10.0 ** (_SILENCE_DB / 10.0)))

    noise_db, loud_db = np.percentile(level_db, [c.noise_percentile, c.loud_percentile])
    threshold = max(
        c.floor_db,
        noise_db + c.min_snr_db,
        noise_db + c.threshold_ratio * (loud_db - noise_db),
    )
    starts, ends = _runs(level_db > threshold)
    if not len(starts):
        return np.zeros(n_frames, dtype=bool)
    frames_per_s = sample_rate / hop_length
    long_gap = starts[1:] - ends[:-1] >= round(c.min_gap_s * frames_per_s)
    starts, ends = starts[np.r_[True, long_gap]], ends[np.r_[long_gap, True]]
    long_island = ends - starts >= round(c.min_island_s * frames_per_s)
    starts, ends = starts[long_island], ends[long_island]

    change = np.zeros(n_frames + 1, dtype=np.int8)
    change[starts], change[ends] = 1, -1
    return np.cumsum(change[:-1]) > 0


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and (exclusive) end indices of the runs of True in ``mask``."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return edges[::2], edges[1::2]


def speech_segments(mask: np.ndarray, *, hop_length: int, sample_rate: int) -> list[tuple[float, float]]:
    """Turn a speech mask into (start, end) times.

    Parameters
    ----------
    mask : np.ndarray [shape=(T,), dtype=bool]
        As returned by `speech_mask`.
    hop_length : int > 0
    sample_rate : int > 0

    Returns
    -------
    segments : list of (start_s, end_s)
        One per run of speech frames, in seconds; ``end_s - start_s`` is the
        run's frame count times the hop, so the lengths add up to the speech
        duration of `Recording.speech_s`.

    Raises
    ------
    ParameterError
        When ``mask`` is not 1-D or ``hop_length``/``sample_rate`` are not integers > 0.

    Examples
    --------
    >>> speech_segments(np.array([0, 1, 1, 0, 1], bool), hop_length=160, sample_rate=16000)
    [(0.01, 0.03), (0.04, 0.05)]
    """
    mask = np.asarray(mask)
    if mask.ndim != 1:
        raise ParameterError(f"mask.ndim={mask.ndim} must be 1")
    hop_length, sample_rate = positive_int("hop_length", hop_length), positive_int("sample_rate", sample_rate)
    seconds_per_frame = hop_length / sample_rate
    starts, ends = _runs(mask.astype(bool))
    return [(s * seconds_per_frame, e * seconds_per_frame) for s, e in zip(starts.tolist(), ends.tolist())]
