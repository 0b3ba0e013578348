"""Estimate the fundamental frequency and voicing of every frame with a vectorised YIN."""

from __future__ import annotations

import numpy as np
import scipy.fft

from deceptio.errors import ParameterError
from deceptio.features.framing import _as_signal, _positive_int, frame_blocks

__all__ = ["fundamental_frequency"]

# Frames whose mean square is below this (-100 dB re full scale) are digital
# silence: their difference function is all zeros and has no period to find.
_SILENT_POWER = 1e-10


def fundamental_frequency(
    y: np.ndarray,
    *,
    sample_rate: int,
    hop_length: int,
    frame_length: int,
    f0_min: float,
    f0_max: float,
    voicing_threshold: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fundamental frequency, voicing and aperiodicity per frame (YIN, de Cheveigné & Kawahara 2002).

    For each centred frame the difference function ``d(tau)`` over a window of
    ``frame_length - tau_max - 1`` samples is computed for all frames at once
    with FFTs, normalised by its cumulative mean, and the period is the first
    local minimum below ``voicing_threshold`` (else the global minimum) in
    ``[sample_rate / f0_max, sample_rate / f0_min]``, refined by parabolic
    interpolation of ``d``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Audio signal, floating point and finite.
    sample_rate : int > 0
        Sampling rate of ``y`` in Hz.
    hop_length : int > 0
        Samples between frame centres.
    frame_length : int > 0
        Samples per analysis frame; must hold two periods of ``f0_min``.
    f0_min, f0_max : float, 0 < f0_min < f0_max <= sample_rate / 2
        Search range in Hz.
    voicing_threshold : float in (0, 1)
        Frames whose aperiodicity is below it are voiced.

    Returns
    -------
    f0 : np.ndarray [shape=(1 + n // hop_length,), dtype=float32]
        Fundamental frequency in Hz, 0.0 where unvoiced.
    voiced : np.ndarray [shape=(1 + n // hop_length,), dtype=bool]
        Whether the frame is voiced (periodic and not silent).
    aperiodicity : np.ndarray [shape=(1 + n // hop_length,), dtype=float32]
        Cumulative-mean-normalised difference at the chosen period, in [0, 1]:
        near 0 for a periodic frame, 1 for noise and silence.

    Raises
    ------
    ParameterError
        If ``y`` is invalid or a parameter is out of range.

    Examples
    --------
    >>> t = np.arange(16000) / 16000
    >>> f0, voiced, _ = fundamental_frequency(
    ...     np.sin(2 * np.pi * 220 * t), sample_rate=16000, hop_length=160,
    ...     frame_length=1024, f0_min=60.0, f0_max=500.0, voicing_threshold=0.25)
    >>> round(float(np.median(f0[voiced])))
    220
    """
    y = _as_signal(y, upcast=False)
    sample_rate = _positive_int("sample_rate", sample_rate)
    hop_length = _positive_int("hop_length", hop_length)
    frame_length = _positive_int("frame_length", frame_length)
    if not 0 < f0_min < f0_max <= sample_rate / 2:
        raise ParameterError(
            f"need 0 < f0_min < f0_max <= sample_rate / 2 = {sample_rate / 2}, "
            f"got f0_min={f0_min}, f0_max={f0_max}"
        )
    if not 0 < voicing_threshold < 1:
        raise ParameterError(f"voicing_threshold={voicing_threshold} must be in (0, 1)")
    tau_min, tau_max = _lag_range(sample_rate=sample_rate, f0_min=f0_min, f0_max=f0_max)
    if frame_length < 2 * (tau_max + 1):
        raise ParameterError(
            f"frame_length={frame_length} must be >= {2 * (tau_max + 1)} "
            f"to hold two periods of f0_min={f0_min} Hz"
        )

    n_frames = 1 + len(y) // hop_length
    period = np.empty(n_frames)
    aperiodicity = np.empty(n_frames)
    for rows, frames in frame_blocks(y, frame_length=frame_length, hop_length=hop_length):
        period[rows], aperiodicity[rows] = _yin(frames, tau_min=tau_min, tau_max=tau_max, threshold=voicing_threshold)
    voiced = aperiodicity < voicing_threshold
    f0 = np.where(voiced, sample_rate / period, 0.0)
    return f0.astype(np.float32), voiced, aperiodicity.astype(np.float32)


def _lag_range(*, sample_rate: int, f0_min: float, f0_max: float) -> tuple[int, int]:
    """Shortest and longest period searched, in samples."""
    return int(sample_rate // f0_max), int(np.ceil(sample_rate / f0_min))


def _yin(
    frames: np.ndarray, *, tau_min: int, tau_max: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Period in samples (fractional) and aperiodicity of each row of ``frames``."""
    n_frames, frame_length = frames.shape
    width = frame_length - tau_max - 1  # the window compared with its shifts
    n_lags = tau_max + 2  # one lag past tau_max for the parabola

    # d(tau) = e(0) + e(tau) - 2 r(tau), with e(tau) the energy of the window
    # shifted by tau and r the cross-correlation of the window with the frame.
    # The FFT length needs no padding: window index + lag stays below frame_length.
    # Single precision halves the cost of the FFTs, and its 1e-7 relative error
    # is far below what voicing decisions and the period's parabola resolve.
    single = frames.astype(np.float32)
    head = scipy.fft.rfft(single[:, :width], n=frame_length, axis=-1)
    spectrum = scipy.fft.rfft(single, axis=-1)
    spectrum *= np.conjugate(head, out=head)
    cross = scipy.fft.irfft(spectrum, n=frame_length, axis=-1)[:, :n_lags]
    # e(tau) = e(tau - 1) + x[tau + width - 1]^2 - x[tau - 1]^2
    energy = np.empty((n_frames, n_lags))
    energy[:, 0] = np.einsum("ij,ij->i", frames[:, :width], frames[:, :width])
    np.cumsum(frames[:, width:] ** 2 - frames[:, : n_lags - 1] ** 2, axis=-1, out=energy[:, 1:])
    energy[:, 1:] += energy[:, :1]
    diff = np.maximum(energy[:, :1] + energy - 2 * cross, 0.0)
    diff[:, 0] = 0.0

    # Cumulative-mean normalisation: d'(tau) = d(tau) * tau / sum_{j<=tau} d(j), d'(0) = 1.
    running = np.cumsum(diff, axis=-1)
    lags = np.arange(n_lags)
    cmnd = np.ones_like(diff)
    np.divide(diff * lags, running, out=cmnd, where=running > 0)
    cmnd[:, 0] = 1.0

    inner = cmnd[:, tau_min : tau_max + 1]
    is_dip = (inner < cmnd[:, tau_min - 1 : tau_max]) & (inner <= cmnd[:, tau_min + 1 : tau_max + 2])
    dip = is_dip & (inner < threshold)
    best = np.where(dip.any(axis=-1), dip.argmax(axis=-1), inner.argmin(axis=-1)) + tau_min

    rows = np.arange(n_frames)
    before, at, after = (diff[rows, best + k] for k in (-1, 0, 1))
    curvature = before - 2 * at + after
    shift = np.zeros(n_frames)
    np.divide(before - after, 2 * curvature, out=shift, where=curvature > 0)
    period = best + np.clip(shift, -1.0, 1.0)

    aperiodicity = np.clip(cmnd[rows, best], 0.0, 1.0)
    silent = energy[:, 0] < _SILENT_POWER * width
    aperiodicity[silent] = 1.0
    return period, aperiodicity
