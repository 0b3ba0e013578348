"""Turns one recording's feature arrays into the normalised images a variant's ResNet reads.

Every image is ``(rows, frames)`` at the features' 10 ms frame rate. Maps
(spectrogram, MFCC, LPC, contrast) are z-scored per row over the recording's
selected frames; contours (F0, centroid) and line positions (LSF) are drawn as
soft Gaussian ridges, F0 and centroid relative to the recording's own median
so that the image shows movement, not the speaker's absolute pitch (which
stands for gender) or the microphone's tilt.
"""

from __future__ import annotations

import numpy as np

from deceptio.errors import ParameterError
from deceptio.features import deltas

__all__ = ["IMAGE_ROWS", "feature_images", "stack_images", "window_starts", "cut_windows"]

_F0_SEMITONES = 12.0  # ridge axis spans ±1 octave around the recording's median F0
_F0_BINS = 48
_CENTROID_OCTAVES = 2.0
_CENTROID_BINS = 24
_LSF_BINS = 48
_LSF_FMIN, _LSF_FMAX = 60.0, 7800.0

IMAGE_ROWS: dict[str, int] = {
    "spectrogram": 64,
    "mfcc": 60,
    "lpc": 16,
    "lsf": _LSF_BINS,
    "f0": _F0_BINS,
    "contrast": 7,
    "centroid": _CENTROID_BINS,
}


def _zscore_rows(x: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=1, keepdims=True)
    std = x.std(axis=1, keepdims=True)
    return ((x - mean) / np.maximum(std, 1e-3)).astype(np.float32)


def _standardise(x: np.ndarray) -> np.ndarray:
    return ((x - x.mean()) / max(float(x.std()), 1e-3)).astype(np.float32)


_RIDGE_REACH = 4  # bins each side of a line that its Gaussian touches; beyond that exp(-8) ≈ 3e-4


def _ridge(values: np.ndarray, weight: np.ndarray, lo: float, hi: float, n_bins: int) -> np.ndarray:
    """Gaussian ridges of ``values`` (``(lines, T)``) on ``n_bins`` rows spanning [lo, hi].

    Each line adds a Gaussian one bin wide (sharp enough to show its level,
    smooth enough to move continuously) to the bins within ``_RIDGE_REACH``;
    the sum is scattered with one bincount instead of evaluating every bin.
    """
    step = (hi - lo) / (n_bins - 1)
    lines, n_frames = values.shape
    position = (values.astype(np.float32) - lo) / step  # fractional bin of each line
    base = np.floor(position).astype(np.int64)
    offsets = np.arange(-_RIDGE_REACH + 1, _RIDGE_REACH + 1)[:, None, None]
    bins = base[None] + offsets
    contribution = np.exp(-0.5 * (bins - position[None]) ** 2) * weight[None, None, :]
    frame = np.broadcast_to(np.arange(n_frames), bins.shape)
    inside = (bins >= 0) & (bins < n_bins)
    image = np.bincount(
        (bins[inside] * n_frames + frame[inside]), weights=contribution[inside], minlength=n_bins * n_frames
    )
    return image.reshape(n_bins, n_frames).astype(np.float32)


def _relative(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    reference = float(np.median(values[valid])) if valid.any() else 1.0
    return np.log2(np.maximum(values, 1e-3) / max(reference, 1e-3))


def feature_images(
    features: dict[str, np.ndarray],
    frames: np.ndarray,
    names: tuple[str, ...] | None = None,
    *,
    sample_rate: int = 16000,
) -> dict[str, np.ndarray]:
    """Build normalised feature images over the selected frames.

    Parameters
    ----------
    features : dict
        Output of :func:`deceptio.features.compute_features` for the whole recording.
    frames : np.ndarray [shape=(n,)], int
        Indices of the frames to keep (the speaker's speech), in time order.
        Normalisation statistics come from these frames only.
    names : tuple of str, optional
        Images to build (keys of :data:`IMAGE_ROWS`); all by default.
    sample_rate : int
        Rate the features were computed at (LSF are radians of it).

    Returns
    -------
    dict of str to np.ndarray [shape=(IMAGE_ROWS[name], n)], float32
    """
    names = tuple(IMAGE_ROWS) if names is None else tuple(names)
    unknown = [name for name in names if name not in IMAGE_ROWS]
    if unknown:
        raise ParameterError(f"unknown feature images {unknown}; known: {sorted(IMAGE_ROWS)}")
    frames = np.asarray(frames, dtype=np.int64)
    if frames.size == 0:
        raise ParameterError("no frames selected: there is no speech to build images from")
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name == "spectrogram":
            out[name] = _zscore_rows(features["log_mel"][:, frames])
        elif name == "mfcc":
            mfcc = features["mfcc"]
            d1 = deltas(mfcc)
            stacked = np.concatenate([mfcc, d1, deltas(d1)])[:, frames]
            out[name] = _zscore_rows(stacked)
        elif name == "lpc":
            out[name] = _zscore_rows(features["lpc"][:, frames])
        elif name == "contrast":
            out[name] = _zscore_rows(features["contrast"][:, frames])
        elif name == "lsf":
            hz = features["lsf"][:, frames] * (sample_rate / (2 * np.pi))
            octaves = np.log2(np.clip(hz, _LSF_FMIN, _LSF_FMAX))
            weight = np.ones(frames.size, dtype=np.float32)
            out[name] = _standardise(_ridge(octaves, weight, np.log2(_LSF_FMIN), np.log2(_LSF_FMAX), _LSF_BINS))
        elif name == "f0":
            f0 = features["f0"][frames]
            voiced = features["voiced"][frames] & (f0 > 0)
            semitones = 12.0 * _relative(f0, voiced)
            ridge = _ridge(semitones[None, :], voiced.astype(np.float32), -_F0_SEMITONES, _F0_SEMITONES, _F0_BINS)
            out[name] = _standardise(ridge)
        elif name == "centroid":
            centroid = features["centroid"][frames]
            valid = centroid > 0
            octaves = _relative(centroid, valid)
            ridge = _ridge(octaves[None, :], valid.astype(np.float32), -_CENTROID_OCTAVES, _CENTROID_OCTAVES, _CENTROID_BINS)
            out[name] = _standardise(ridge)
    return out


def stack_images(images: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    """Stack the named images top to bottom into one ``(rows, frames)`` array."""
    return np.concatenate([images[name] for name in names], axis=0)


def window_starts(n_frames: int, *, window: int, hop: int) -> np.ndarray:
    """Start frames of analysis windows covering ``n_frames``; the last ends at the end."""
    if window < 1 or hop < 1:
        raise ParameterError(f"window={window} and hop={hop} must be >= 1")
    if n_frames <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n_frames - window + 1, hop, dtype=np.int64)
    if starts[-1] != n_frames - window:
        starts = np.append(starts, n_frames - window)
    return starts


def cut_windows(image: np.ndarray | list[np.ndarray], starts: np.ndarray, *, window: int) -> np.ndarray:
    """Cut ``(rows, frames)`` into ``(len(starts), rows, window)``; short images wrap around.

    ``image`` may also be a list of images with the same frames, read as if
    stacked top to bottom: only the cut windows are stacked, so a long
    recording's whole stacked image (40 MB for 15 minutes) is never made.
    """
    if isinstance(image, (list, tuple)):
        return np.concatenate([cut_windows(part, starts, window=window) for part in image], axis=1)
    n = image.shape[1]
    if n < window:
        image = np.tile(image, (1, -(-window // n)))
    index = starts[:, None] + np.arange(window)[None, :]
    return np.ascontiguousarray(np.moveaxis(image[:, index], 1, 0))
