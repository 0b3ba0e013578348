"""Turns one recording's feature arrays into the normalised images a variant's ResNet reads.

Every image is ``(rows, frames)`` at the features' 10 ms frame rate. Maps
(spectrogram, MFCC, LPC, contrast) are z-scored per row over the recording's
selected frames; contours (F0, centroid) and line positions (LSF) are drawn as
soft Gaussian ridges, F0 and centroid relative to the recording's own median
so that the image shows movement, not the speaker's absolute pitch (which
stands for gender) or the microphone's tilt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deceptio.errors import ParameterError
from deceptio.features import FeatureConfig, deltas
from deceptio.settings import Settings, setting

__all__ = ["IMAGE_NAMES", "ImageConfig", "WindowConfig", "image_rows", "feature_images", "stack_images",
           "window_starts", "cut_windows"]

IMAGE_NAMES = ("spectrogram", "mfcc", "lpc", "lsf", "f0", "contrast", "centroid")


@dataclass(frozen=True)
class ImageConfig(Settings):
    """The geometry of the drawn images (F0, centroid and LSF ridges) and the normalisation floor.

    Stored in every model card: a change here changes what a network reads.
    The map images (spectrogram, MFCC, LPC, contrast) take their rows from the
    feature configuration; see :func:`image_rows`.
    """

    f0_semitones: float = setting(12.0, gt=0)  # the F0 axis spans ± this around the recording's median F0 (±1 octave)
    f0_bins: int = setting(48, ge=2)
    centroid_octaves: float = setting(2.0, gt=0)  # the centroid axis spans ± this around its median
    centroid_bins: int = setting(24, ge=2)
    lsf_bins: int = setting(48, ge=2)  # log-frequency rows of the LSF ridges
    lsf_fmin: float = setting(60.0, gt=0)  # Hz
    lsf_fmax: float = setting(7800.0, gt=0)  # Hz
    ridge_reach: int = setting(4, ge=1)  # bins each side of a line that its Gaussian touches; beyond that exp(-8) ≈ 3e-4
    std_floor: float = setting(1e-3, gt=0)  # z-scoring divides by at least this, so a flat row stays flat

    def _check(self) -> None:
        self._require("lsf_fmax", self.lsf_fmax > self.lsf_fmin, f"above lsf_fmin={self.lsf_fmin!r}")


@dataclass(frozen=True)
class WindowConfig(Settings):
    """How a recording's image is cut for the network: windows of ``window_frames``, one every ``hop_frames``.

    With ``whole``, a model reads the whole recording at once (an attention-pooled
    model, :class:`~deceptio.modeling.models.ModelConfig` ``pooling="attention"``):
    it trains on random crops of ``window_frames`` and scores the whole image,
    wrapped to ``window_frames`` when shorter (as training crops are).
    """

    _LATER = ("whole",)

    window_frames: int = setting(400, ge=1)  # 4 s analysis windows (a whole-recording model's training crops)
    hop_frames: int = setting(200, ge=1)  # 50 % overlap when scoring
    whole: bool = setting(False)  # score the whole recording as one window

    def scoring(self, frames: int) -> tuple[int, int]:
        """``(window, hop)`` in frames that scoring an image of ``frames`` frames cuts."""
        if self.whole:
            length = max(int(frames), self.window_frames)
            return length, length
        return self.window_frames, self.hop_frames


def image_rows(name: str, features: FeatureConfig, images: ImageConfig) -> int:
    """Rows of image ``name`` under these settings: the maps follow the features, the ridges the image geometry."""
    rows = {
        "spectrogram": features.n_mels,
        "mfcc": 3 * features.n_mfcc,  # with deltas and delta-deltas
        "lpc": features.lpc_order,
        "lsf": images.lsf_bins,
        "f0": images.f0_bins,
        "contrast": features.n_contrast_bands + 1,
        "centroid": images.centroid_bins,
    }
    if name not in rows:
        raise ParameterError(f"unknown feature image {name!r}; known: {', '.join(IMAGE_NAMES)}")
    return rows[name]


def _zscore_rows(x: np.ndarray, floor: float) -> np.ndarray:
    mean = x.mean(axis=1, keepdims=True)
    std = x.std(axis=1, keepdims=True)
    return ((x - mean) / np.maximum(std, floor)).astype(np.float32)


def _standardise(x: np.ndarray, floor: float) -> np.ndarray:
    return ((x - x.mean()) / max(float(x.std()), floor)).astype(np.float32)


def _ridge(values: np.ndarray, weight: np.ndarray, lo: float, hi: float, n_bins: int, reach: int) -> np.ndarray:
    """Gaussian ridges of ``values`` (``(lines, T)``) on ``n_bins`` rows spanning [lo, hi].

    Each line adds a Gaussian one bin wide (sharp enough to show its level,
    smooth enough to move continuously) to the bins within ``reach``;
    the sum is scattered with one bincount instead of evaluating every bin.
    """
    step = (hi - lo) / (n_bins - 1)
    lines, n_frames = values.shape
    position = (values.astype(np.float32) - lo) / step  # fractional bin of each line
    base = np.floor(position).astype(np.int64)
    offsets = np.arange(-reach + 1, reach + 1)[:, None, None]
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
    config: ImageConfig = ImageConfig(),
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
        Images to build (of :data:`IMAGE_NAMES`); all by default.
    config : ImageConfig
        Ridge geometry and normalisation (a model card's, when scoring).
    sample_rate : int
        Rate the features were computed at (LSF are radians of it).

    Returns
    -------
    dict of str to np.ndarray [shape=(image_rows(name, ...), n)], float32
    """
    names = IMAGE_NAMES if names is None else tuple(names)
    unknown = [name for name in names if name not in IMAGE_NAMES]
    if unknown:
        raise ParameterError(f"unknown feature images {unknown}; known: {', '.join(IMAGE_NAMES)}")
    frames = np.asarray(frames, dtype=np.int64)
    if frames.size == 0:
        raise ParameterError("no frames selected: there is no speech to build images from")
    c, floor = config, config.std_floor
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name == "spectrogram":
            out[name] = _zscore_rows(features["log_mel"][:, frames], floor)
        elif name == "mfcc":
            mfcc = features["mfcc"]
            d1 = deltas(mfcc)
            stacked = np.concatenate([mfcc, d1, deltas(d1)])[:, frames]
            out[name] = _zscore_rows(stacked, floor)
        elif name == "lpc":
            out[name] = _zscore_rows(features["lpc"][:, frames], floor)
        elif name == "contrast":
            out[name] = _zscore_rows(features["contrast"][:, frames], floor)
        elif name == "lsf":
            hz = features["lsf"][:, frames] * (sample_rate / (2 * np.pi))
            octaves = np.log2(np.clip(hz, c.lsf_fmin, c.lsf_fmax))
            weight = np.ones(frames.size, dtype=np.float32)
            ridge = _ridge(octaves, weight, np.log2(c.lsf_fmin), np.log2(c.lsf_fmax), c.lsf_bins, c.ridge_reach)
            out[name] = _standardise(ridge, floor)
        elif name == "f0":
            f0 = features["f0"][frames]
            voiced = features["voiced"][frames] & (f0 > 0)
            semitones = 12.0 * _relative(f0, voiced)
            ridge = _ridge(semitones[None, :], voiced.astype(np.float32), -c.f0_semitones, c.f0_semitones, c.f0_bins,
                           c.ridge_reach)
            out[name] = _standardise(ridge, floor)
        elif name == "centroid":
            centroid = features["centroid"][frames]
            valid = centroid > 0
            octaves = _relative(centroid, valid)
            ridge = _ridge(octaves[None, :], valid.astype(np.float32), -c.centroid_octaves, c.centroid_octaves,
                           c.centroid_bins, c.ridge_reach)
            out[name] = _standardise(ridge, floor)
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
