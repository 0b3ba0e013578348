"""Cut a signal into centred frames and take the short-time power spectrum every feature shares."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import scipy.fft

from deceptio.errors import ParameterError
from deceptio.settings import positive_int as _positive_int

__all__ = ["frame_signal", "frame_blocks", "power_spectrogram", "power_blocks", "fft_frequencies", "hann_window"]

# Frames per batch wherever each frame makes large temporaries (FFTs, grids):
# batches this size keep memory bounded for long recordings and the working set
# in cache, which makes them about 1.5x faster than whole-recording arrays.
_BLOCK = 1024


def frame_signal(y: np.ndarray, *, frame_length: int, hop_length: int) -> np.ndarray:
    """Cut ``y`` into overlapping frames, frame ``t`` centred on sample ``t * hop_length``.

    Every feature of deceptio is framed this way, so all features of one
    recording have the same number of frames and frame ``t`` of each describes
    the same instant.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Audio signal, floating point and finite.
    frame_length : int > 0
        Samples per frame. The signal is padded with ``frame_length // 2``
        zeros on the left and as many as needed on the right.
    hop_length : int > 0
        Samples between the centres of successive frames.

    Returns
    -------
    frames : np.ndarray [shape=(1 + n // hop_length, frame_length)]
        A read-only view on a padded copy of ``y``; copy it before writing.

    Raises
    ------
    ParameterError
        If ``y`` is not a finite 1-D float array or a length is not a positive integer.

    Examples
    --------
    >>> frame_signal(np.arange(1.0, 6.0), frame_length=3, hop_length=2)
    array([[0., 1., 2.],
           [2., 3., 4.],
           [4., 5., 0.]])
    """
    y = _as_signal(y)
    frame_length = _positive_int("frame_length", frame_length)
    hop_length = _positive_int("hop_length", hop_length)
    n_frames = 1 + len(y) // hop_length
    left = frame_length // 2
    right = max(0, (n_frames - 1) * hop_length + frame_length - left - len(y))
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(y, (left, right)), frame_length)
    return windows[::hop_length][:n_frames]


def frame_blocks(
    y: np.ndarray, *, frame_length: int, hop_length: int, pre_emphasis: float = 0.0, block: int | None = None
) -> Iterator[tuple[slice, np.ndarray]]:
    """The frames of :func:`frame_signal` a block at a time, in double precision.

    Only the samples a block needs are padded and converted, so a long
    single-precision recording is never copied whole: memory stays bounded
    by the block, whatever the recording's length.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Audio signal, floating point and finite (not checked here).
    frame_length, hop_length : int > 0
        As for :func:`frame_signal`.
    pre_emphasis : float in [0, 1)
        If nonzero, the frames are cut from ``y[n] - pre_emphasis * y[n - 1]``
        (``y[0]`` kept as is), as if the whole signal had been filtered first.
    block : int > 0, optional
        Frames per block; ``_BLOCK`` by default.

    Yields
    ------
    rows : slice
        Which frames of ``frame_signal(y, ...)`` this block holds.
    frames : np.ndarray [shape=(rows, frame_length)], float64
        A read-only view; copy it before writing.
    """
    block = _BLOCK if block is None else _positive_int("block", block)
    n_frames = 1 + len(y) // hop_length
    left = frame_length // 2
    for start in range(0, n_frames, block):
        stop = min(start + block, n_frames)
        low = start * hop_length - left  # first sample of frame `start`, maybe before the signal
        high = (stop - 1) * hop_length - left + frame_length  # one past the last sample of frame `stop - 1`
        first, last = max(low, 0), min(high, len(y))
        segment = np.asarray(y[first:last], dtype=np.float64)
        if pre_emphasis and segment.size:
            before = y[first - 1 : last - 1] if first > 0 else np.concatenate(([0.0], y[: last - 1]))
            segment = segment - pre_emphasis * np.asarray(before, dtype=np.float64)
        if low < 0 or high > len(y):
            segment = np.pad(segment, (first - low, high - last))
        yield slice(start, stop), np.lib.stride_tricks.sliding_window_view(segment, frame_length)[::hop_length]


def hann_window(length: int) -> np.ndarray:
    """The periodic Hann window of ``length`` samples (``scipy.signal.get_window("hann", length)``)."""
    length = _positive_int("length", length)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


def power_spectrogram(y: np.ndarray, *, n_fft: int, hop_length: int, win_length: int) -> np.ndarray:
    """Squared magnitude of the short-time Fourier transform, Hann-windowed and centred.

    Equal to ``np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length,
    win_length=win_length, center=True, pad_mode="constant")) ** 2``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Audio signal, floating point and finite.
    n_fft : int > 0
        FFT length.
    hop_length : int > 0
        Samples between frames.
    win_length : int, 0 < win_length <= n_fft
        Length of the periodic Hann window, zero-padded in the middle of ``n_fft``.

    Returns
    -------
    S : np.ndarray [shape=(1 + n_fft // 2, 1 + n // hop_length)]
        Power per frequency bin and frame.

    Raises
    ------
    ParameterError
        If ``y`` is invalid or ``win_length`` is not in ``[1, n_fft]``.
    """
    y = _as_signal(y, upcast=False)
    blocks = list(power_blocks(y, n_fft=n_fft, hop_length=hop_length, win_length=win_length))
    return np.concatenate(blocks, axis=1)


def power_blocks(
    y: np.ndarray, *, n_fft: int, hop_length: int, win_length: int, block: int | None = None
) -> Iterator[np.ndarray]:
    """The columns of :func:`power_spectrogram` a block of frames at a time.

    Yields ``(1 + n_fft // 2, rows)`` arrays in time order; features that
    need one frame at a time (mel bands, centroid, contrast, energy) can be
    computed per block without ever holding the whole spectrogram.
    """
    n_fft = _positive_int("n_fft", n_fft)
    win_length = _positive_int("win_length", win_length)
    if win_length > n_fft:
        raise ParameterError(f"win_length={win_length} must be <= n_fft={n_fft}")
    window = np.zeros(n_fft)
    start = (n_fft - win_length) // 2
    window[start : start + win_length] = hann_window(win_length)
    for _, frames in frame_blocks(y, frame_length=n_fft, hop_length=hop_length, block=block):
        spectrum = scipy.fft.rfft(frames * window, axis=-1)
        yield (spectrum.real**2 + spectrum.imag**2).T


def fft_frequencies(*, sample_rate: int, n_fft: int) -> np.ndarray:
    """Centre frequency in Hz of each bin of a real FFT.

    Parameters
    ----------
    sample_rate : int > 0
        Sampling rate in Hz.
    n_fft : int > 0
        FFT length.

    Returns
    -------
    freqs : np.ndarray [shape=(1 + n_fft // 2,)]
        ``0, sample_rate / n_fft, ...`` up to the Nyquist frequency.
    """
    sample_rate = _positive_int("sample_rate", sample_rate)
    n_fft = _positive_int("n_fft", n_fft)
    return np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)


def _as_signal(y: np.ndarray, *, name: str = "y", upcast: bool = True) -> np.ndarray:
    """``y`` as a float64 array (or, without ``upcast``, as it is) after checking it is a non-empty, finite, 1-D float signal."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ParameterError(f"{name} must be 1-D (one channel), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.floating):
        raise ParameterError(
            f"{name} must hold floating-point samples, got dtype {y.dtype}; "
            "scale integer PCM to [-1, 1] first"
        )
    if y.size == 0:
        raise ParameterError(f"{name} is empty: a signal needs at least one sample")
    if not np.isfinite(y).all():
        raise ParameterError(f"{name} contains NaN or infinite samples")
    return y.astype(np.float64, copy=False) if upcast else y


def _blocks(n_frames: int) -> Iterator[slice]:
    """Consecutive slices of at most ``_BLOCK`` frames covering ``n_frames``."""
    return (slice(start, start + _BLOCK) for start in range(0, n_frames, _BLOCK))
