"""Estimate the fundamental frequency and voicing of every frame with a vectorised YIN."""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.ndimage

from deceptio.errors import ParameterError
from deceptio.features.framing import _as_signal, _positive_int, frame_blocks

__all__ = ["correct_octave_jumps", "fundamental_frequency"]

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


def correct_octave_jumps(
    f0: np.ndarray,
    voiced: np.ndarray,
    *,
    median_frames: int = 51,
    tolerance: float = 0.3,
) -> np.ndarray:
    """Halve or double the voiced frames that sit about an octave from the running median of the voiced contour.

    YIN's errors are mostly octave errors: for a few frames it picks half or
    twice the true period and the contour jumps by a factor of two. Each
    voiced frame is compared with the median of the ``median_frames`` voiced
    frames around it (unvoiced frames are skipped, so a pause does not
    dilute the median); a frame within ``tolerance`` octaves of one octave
    above that median is halved, one within ``tolerance`` of an octave below
    it is doubled. A run of jumped frames longer than half the median's
    reach is taken for the true contour and left alone.

    :func:`~deceptio.features.compute_features` applies it to the F0 the
    models read when ``FeatureConfig.f0_octave_fix`` is set; the page's plots
    apply it to any contour they draw.

    Parameters
    ----------
    f0 : np.ndarray [shape=(n,)]
        Fundamental frequency in Hz, as from :func:`fundamental_frequency`;
        its value where ``voiced`` is False is kept as it is.
    voiced : np.ndarray [shape=(n,), dtype=bool]
        Which frames carry an F0 to correct.
    median_frames : int > 0, odd
        Voiced frames in the running median (51 frames: about half a second
        of voicing at a 10 ms hop).
    tolerance : float in (0, 0.5)
        How far, in octaves, a frame may sit from exactly one octave off the
        median and still be corrected.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float32]
        ``f0`` with its octave jumps corrected.

    Raises
    ------
    ParameterError
        If the shapes differ or a parameter is out of range.

    Examples
    --------
    >>> f0 = np.full(200, 150.0)
    >>> f0[100:104] = 300.0  # a four-frame octave error
    >>> corrected = correct_octave_jumps(f0, np.ones(200, dtype=bool))
    >>> float(corrected[100:104].max())
    150.0
    """
    f0 = np.asarray(f0, dtype=np.float64)
    voiced = np.asarray(voiced)
    if f0.ndim != 1 or voiced.shape != f0.shape:
        raise ParameterError(f"f0 and voiced must be 1-d arrays of one length, got shapes {f0.shape} and {voiced.shape}")
    if not isinstance(median_frames, (int, np.integer)) or median_frames < 1 or median_frames % 2 == 0:
        raise ParameterError(f"median_frames={median_frames!r} must be an odd integer > 0")
    if not 0 < tolerance < 0.5:
        raise ParameterError(f"tolerance={tolerance!r} must be in (0, 0.5) octaves")
    corrected = f0.copy()
    frames = np.flatnonzero(voiced.astype(bool) & np.isfinite(f0) & (f0 > 0))
    if frames.size:
        octaves = np.log2(f0[frames])
        offset = octaves - scipy.ndimage.median_filter(octaves, size=min(median_frames, frames.size), mode="nearest")
        corrected[frames[np.abs(offset - 1) <= tolerance]] /= 2
        corrected[frames[np.abs(offset + 1) <= tolerance]] *= 2
    return corrected.astype(np.float32)


def gate_quiet_frames(voiced: np.ndarray, level_db: np.ndarray, *, floor_db: float,
                      within: np.ndarray | None = None) -> np.ndarray:
    """``voiced`` without the frames more than ``floor_db`` below the recording's loud frames (95th percentile level).

    ``within`` (a boolean mask) takes the loud level over those frames only,
    e.g. the speech frames; all frames by default.

    YIN calls the dither and hum of a pause periodic: such frames sit tens
    of dB below the speech around them, and their "F0" is noise. ``floor_db=0``
    keeps every frame.

    Examples
    --------
    >>> gate_quiet_frames(np.ones(4, dtype=bool), np.array([-20.0, -21.0, -75.0, -19.0]), floor_db=40.0).tolist()
    [True, True, False, True]
    """
    voiced = np.asarray(voiced, dtype=bool)
    level_db = np.asarray(level_db, dtype=np.float64)
    if voiced.shape != level_db.shape:
        raise ParameterError(f"voiced and level_db must have one shape, got {voiced.shape} and {level_db.shape}")
    if not floor_db >= 0:
        raise ParameterError(f"floor_db={floor_db!r} must be >= 0")
    reference = level_db if within is None else level_db[np.asarray(within, dtype=bool)]
    if floor_db == 0 or reference.size == 0:
        return voiced.copy()
    return voiced & (level_db >= np.percentile(reference, 95) - floor_db)


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
