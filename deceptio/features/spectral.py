"""Spectral features of speech: mel spectrogram, MFCC, deltas, centroid, contrast and frame energy."""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.ndimage

from deceptio.errors import ParameterError
from deceptio.features.framing import _positive_int, fft_frequencies, hann_window, power_spectrogram

__all__ = [
    "mel_filterbank",
    "log_mel_spectrogram",
    "mfcc",
    "deltas",
    "spectral_centroid",
    "spectral_contrast",
    "rms_db",
]


def mel_filterbank(*, sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular mel filters on the Slaney mel scale, area-normalised (librosa's default).

    Parameters
    ----------
    sample_rate : int > 0
        Sampling rate in Hz.
    n_fft : int > 0
        FFT length of the spectrogram the filters apply to.
    n_mels : int > 0
        Number of filters.
    fmin, fmax : float, 0 <= fmin < fmax <= sample_rate / 2
        Lowest and highest band edges in Hz.

    Returns
    -------
    weights : np.ndarray [shape=(n_mels, 1 + n_fft // 2)]
        Filter ``m`` is row ``m``; ``weights @ S`` gives mel band power.

    Raises
    ------
    ParameterError
        If the frequency range is invalid, or if a filter falls between two
        FFT bins and would be empty (too many mels for ``n_fft``).
    """
    n_mels = _positive_int("n_mels", n_mels)
    freqs = fft_frequencies(sample_rate=sample_rate, n_fft=n_fft)
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ParameterError(
            f"need 0 <= fmin < fmax <= sample_rate / 2 = {sample_rate / 2}, got fmin={fmin}, fmax={fmax}"
        )
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    rising = (freqs - edges[:-2, None]) / np.diff(edges)[:-1, None]
    falling = (edges[2:, None] - freqs) / np.diff(edges)[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    empty = np.flatnonzero(~weights.any(axis=1))
    if empty.size:
        raise ParameterError(
            f"n_mels={n_mels} is too many for n_fft={n_fft} between fmin={fmin} and fmax={fmax}: "
            f"filters {empty.tolist()} contain no FFT bin"
        )
    return weights


def log_mel_spectrogram(
    y: np.ndarray | None = None,
    *,
    S: np.ndarray | None = None,
    sample_rate: int,
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
    n_mels: int,
    fmin: float,
    fmax: float,
    amin: float = 1e-10,
) -> np.ndarray:
    """Mel band power in decibels, floored at ``10 * log10(amin)``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], optional
        Audio signal; give ``y`` or ``S``, not both.
    S : np.ndarray [shape=(1 + n_fft // 2, T)], optional
        Power spectrogram from :func:`~deceptio.features.framing.power_spectrogram`.
    sample_rate, n_fft : int > 0
        Sampling rate in Hz and FFT length.
    hop_length, win_length : int > 0, optional
        STFT settings, needed only with ``y``.
    n_mels, fmin, fmax
        Mel filterbank, see :func:`mel_filterbank`.
    amin : float > 0
        Power floor, so silence gives ``10 * log10(amin)`` dB (-100 dB) rather than -inf.

    Returns
    -------
    log_mel : np.ndarray [shape=(n_mels, T)]
        ``10 * log10(max(mel power, amin))``.
    """
    if not amin > 0:
        raise ParameterError(f"amin={amin} must be > 0")
    S = _power(y, S, n_fft=n_fft, hop_length=hop_length, win_length=win_length)
    weights = mel_filterbank(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return 10.0 * np.log10(np.maximum(weights @ S, amin))


def mfcc(
    y: np.ndarray | None = None,
    *,
    S: np.ndarray | None = None,
    log_mel: np.ndarray | None = None,
    n_mfcc: int,
    **mel_options: float,
) -> np.ndarray:
    """Mel-frequency cepstral coefficients: orthonormal DCT-II of the log-mel spectrogram.

    ``c0`` is the mean log-mel level times ``sqrt(n_mels)``, so it follows loudness.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], optional
        Audio signal.
    S : np.ndarray [shape=(1 + n_fft // 2, T)], optional
        Power spectrogram.
    log_mel : np.ndarray [shape=(n_mels, T)], optional
        Precomputed :func:`log_mel_spectrogram`. Give exactly one of ``y``, ``S``, ``log_mel``.
    n_mfcc : int, 0 < n_mfcc <= n_mels
        Number of coefficients kept.
    **mel_options
        Keyword arguments of :func:`log_mel_spectrogram`, used with ``y`` or ``S``.

    Returns
    -------
    coefficients : np.ndarray [shape=(n_mfcc, T)]
    """
    n_mfcc = _positive_int("n_mfcc", n_mfcc)
    if (y is not None) + (S is not None) + (log_mel is not None) != 1:
        raise ParameterError("give exactly one of y, S or log_mel")
    if log_mel is None:
        log_mel = log_mel_spectrogram(y, S=S, **mel_options)
    elif mel_options:
        raise ParameterError(f"{sorted(mel_options)} have no effect on a given log_mel")
    log_mel = np.asarray(log_mel, dtype=np.float64)
    if log_mel.ndim != 2 or n_mfcc > log_mel.shape[0]:
        raise ParameterError(
            f"log_mel must have shape (n_mels >= n_mfcc={n_mfcc}, T), got {log_mel.shape}"
        )
    return scipy.fft.dct(log_mel, type=2, norm="ortho", axis=0)[:n_mfcc]


def deltas(x: np.ndarray, *, width: int = 9) -> np.ndarray:
    """Regression estimate of the time derivative of each row, per frame.

    ``delta[t] = sum_{n=1}^{N} n (x[t+n] - x[t-n]) / (2 sum_{n=1}^{N} n^2)``
    with ``N = width // 2``; the edges repeat the first and last frames, so
    a ramp's delta equals its slope except within ``N`` frames of an edge.

    Parameters
    ----------
    x : np.ndarray [shape=(..., T)]
        Feature trajectories, time on the last axis.
    width : int, odd, >= 3
        Frames in the regression window.

    Returns
    -------
    delta : np.ndarray [shape=(..., T)]
        Change per frame.
    """
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 3 or width % 2 == 0:
        raise ParameterError(f"width={width!r} must be an odd integer >= 3")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0:
        raise ParameterError("x must have a time axis, got a scalar")
    half = width // 2
    taps = np.arange(-half, half + 1) / (2.0 * np.sum(np.arange(1, half + 1) ** 2))
    return scipy.ndimage.correlate1d(x, taps, axis=-1, mode="nearest")


def spectral_centroid(
    y: np.ndarray | None = None,
    *,
    S: np.ndarray | None = None,
    sample_rate: int,
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
) -> np.ndarray:
    """Magnitude-weighted mean frequency of each frame (librosa's definition).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], optional
        Audio signal; give ``y`` or ``S``, not both.
    S : np.ndarray [shape=(1 + n_fft // 2, T)], optional
        Power spectrogram.
    sample_rate, n_fft : int > 0
        Sampling rate in Hz and FFT length.
    hop_length, win_length : int > 0, optional
        STFT settings, needed only with ``y``.

    Returns
    -------
    centroid : np.ndarray [shape=(T,)]
        In Hz; 0.0 for frames without energy.
    """
    magnitude = np.sqrt(_power(y, S, n_fft=n_fft, hop_length=hop_length, win_length=win_length))
    total = magnitude.sum(axis=0)
    centroid = np.zeros_like(total)
    np.divide(fft_frequencies(sample_rate=sample_rate, n_fft=n_fft) @ magnitude, total, out=centroid, where=total > 0)
    return centroid


def spectral_contrast(
    y: np.ndarray | None = None,
    *,
    S: np.ndarray | None = None,
    sample_rate: int,
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
    n_bands: int = 6,
    fmin: float = 200.0,
    quantile: float = 0.02,
    amin: float = 1e-5,
) -> np.ndarray:
    """Peak-to-valley level difference in octave bands (Jiang et al. 2002, as in librosa).

    Band 0 spans ``[0, fmin]``, band ``k`` spans ``[fmin 2^(k-1), fmin 2^k]``
    and the last reaches the Nyquist frequency; bins are assigned to bands
    exactly as librosa does. In each band and frame, peak and valley are the
    mean of the top and bottom ``quantile`` of the sorted magnitudes (at least
    one bin each).

    Unlike librosa, which applies ``power_to_db`` to magnitudes, the result
    is a true amplitude ratio in dB: twice librosa's value.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], optional
        Audio signal; give ``y`` or ``S``, not both.
    S : np.ndarray [shape=(1 + n_fft // 2, T)], optional
        Power spectrogram.
    sample_rate, n_fft : int > 0
        Sampling rate in Hz and FFT length.
    hop_length, win_length : int > 0, optional
        STFT settings, needed only with ``y``.
    n_bands : int > 0
        Octave bands above ``fmin``.
    fmin : float > 0
        Upper edge of band 0 in Hz; every band must hold an FFT bin.
    quantile : float in (0, 0.5)
        Fraction of each band's bins averaged for peak and valley.
    amin : float > 0
        Magnitude floor, so silent bands give 0 dB.

    Returns
    -------
    contrast : np.ndarray [shape=(n_bands + 1, T)]
        ``20 log10(peak / valley)`` in dB, >= 0.
    """
    n_bands = _positive_int("n_bands", n_bands)
    if not 0 < quantile < 0.5:
        raise ParameterError(f"quantile={quantile} must be in (0, 0.5)")
    if not amin > 0:
        raise ParameterError(f"amin={amin} must be > 0")
    freqs = fft_frequencies(sample_rate=sample_rate, n_fft=n_fft)
    if not (sample_rate / n_fft <= fmin and fmin * 2 ** (n_bands - 1) <= freqs[-1]):
        raise ParameterError(
            f"fmin={fmin} with n_bands={n_bands} must give every octave band an FFT bin: "
            f"fmin >= {sample_rate / n_fft} Hz and fmin * 2^(n_bands - 1) <= {freqs[-1]} Hz"
        )
    edges = np.concatenate(([0.0], fmin * 2.0 ** np.arange(n_bands + 1)))
    magnitude = np.sqrt(_power(y, S, n_fft=n_fft, hop_length=hop_length, win_length=win_length))

    contrast = np.empty((n_bands + 1, magnitude.shape[1]))
    for band, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        # librosa's bin assignment: the bins in [low, high] shifted down by one,
        # except that band 0 starts at DC and the last band runs to Nyquist.
        inside = np.flatnonzero((freqs >= low) & (freqs <= high))
        start = inside[0] - 1 if band else 0
        stop = len(freqs) if band == n_bands else inside[-1]
        n_bins = stop - start
        count = max(1, int(np.rint(quantile * (n_bins + (band < n_bands)))))
        ranked = np.partition(magnitude[start:stop], (count - 1, n_bins - count), axis=0)
        valley = ranked[:count].mean(axis=0)
        peak = ranked[n_bins - count :].mean(axis=0)
        contrast[band] = 20.0 * np.log10(np.maximum(peak, amin) / np.maximum(valley, amin))
    return contrast


def rms_db(
    y: np.ndarray | None = None,
    *,
    S: np.ndarray | None = None,
    n_fft: int,
    win_length: int,
    hop_length: int | None = None,
    amin: float = 1e-10,
) -> np.ndarray:
    """Frame energy as a window-weighted mean square in dB, from the spectrogram by Parseval.

    A full-scale sine gives about -3 dB; silence gives ``10 * log10(amin)``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], optional
        Audio signal; give ``y`` or ``S``, not both.
    S : np.ndarray [shape=(1 + n_fft // 2, T)], optional
        Power spectrogram; it must come from a Hann window of ``win_length``.
    n_fft, win_length : int > 0
        FFT length and Hann window length of the spectrogram.
    hop_length : int > 0, optional
        Samples between frames, needed only with ``y``.
    amin : float > 0
        Floor on the mean square.

    Returns
    -------
    level : np.ndarray [shape=(T,)]
        ``10 log10(max(sum_n w[n]^2 x[n]^2 / sum_n w[n]^2, amin))`` per frame.
    """
    if not amin > 0:
        raise ParameterError(f"amin={amin} must be > 0")
    S = _power(y, S, n_fft=n_fft, hop_length=hop_length, win_length=win_length)
    # Parseval for a real FFT: every bin but DC (and Nyquist, for even n_fft) stands for two.
    fold = np.full(S.shape[0], 2.0)
    fold[0] = 1.0
    if n_fft % 2 == 0:
        fold[-1] = 1.0
    window_energy = np.sum(hann_window(win_length) ** 2)
    return 10.0 * np.log10(np.maximum(fold @ S / (n_fft * window_energy), amin))


def _power(
    y: np.ndarray | None, S: np.ndarray | None, *, n_fft: int, hop_length: int | None, win_length: int | None
) -> np.ndarray:
    """``S`` after checking it, or the power spectrogram of ``y``; exactly one must be given."""
    if (y is None) == (S is None):
        raise ParameterError("give exactly one of y or S")
    if S is None:
        if hop_length is None or win_length is None:
            raise ParameterError("hop_length and win_length are needed to compute S from y")
        return power_spectrogram(y, n_fft=n_fft, hop_length=hop_length, win_length=win_length)
    n_fft = _positive_int("n_fft", n_fft)
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2 or S.shape[0] != 1 + n_fft // 2:
        raise ParameterError(f"S must have shape (1 + n_fft // 2 = {1 + n_fft // 2}, T), got {S.shape}")
    if not (np.isfinite(S).all() and (S >= 0).all()):
        raise ParameterError("S must be a power spectrogram: finite and >= 0")
    return S


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz * 3.0 / 200.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1000.0) / 1000.0) * 27.0 / np.log(6.4), linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_hz_to_mel`."""
    return np.where(mel >= 15.0, 1000.0 * np.exp((mel - 15.0) * np.log(6.4) / 27.0), mel * 200.0 / 3.0)
