"""Saliency: which parts of a feature image pushed a variant's network towards "deceptive"; numpy only.

The class activation map of the last stage is a second output of every
network (see :meth:`deceptio.modeling.models.SlimResNet.forward_cam`): an exact
decomposition of each window's logit, computed in the same forward pass, so
scoring copies are never differentiated. Here the maps of the windows are
upsampled to the image and averaged where windows overlap. (Gradient-based
Grad-CAM, for models that can be differentiated, is a training-side tool:
:mod:`deceptio.training.gradcam`.)
"""

from __future__ import annotations

import numpy as np

from deceptio.modeling.scoring import Network, window_outputs

__all__ = ["upsample", "image_saliency"]


def _linear_axis(a: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Linear interpolation of ``a`` to ``size`` along ``axis``, cells as areas (``align_corners=False``)."""
    n = a.shape[axis]
    position = np.clip((np.arange(size) + 0.5) * (n / size) - 0.5, 0, n - 1)
    left = np.minimum(np.floor(position).astype(np.int64), max(n - 2, 0))
    right = np.minimum(left + 1, n - 1)
    shape = [1] * a.ndim
    shape[axis] = size
    fraction = (position - left).reshape(shape).astype(a.dtype)
    return np.take(a, left, axis=axis) * (1 - fraction) + np.take(a, right, axis=axis) * fraction


def upsample(cam: np.ndarray, rows: int, frames: int) -> np.ndarray:
    """Bilinear upsampling of ``(..., cells_rows, cells_frames)`` maps to ``(..., rows, frames)``, as torch's
    ``interpolate(mode="bilinear", align_corners=False)`` does."""
    return _linear_axis(_linear_axis(np.asarray(cam, dtype=np.float32), rows, -2), frames, -1)


def image_saliency(network: Network, image: np.ndarray, *, window: int, hop: int, batch_size: int = 64) -> np.ndarray:
    """Class activation map over a whole ``(rows, frames)`` image, in logit units.

    Positive where a region raised p(deceptive), negative where it lowered it;
    window maps are averaged where windows overlap.
    """
    n = image.shape[1]
    total = np.zeros((image.shape[0], max(n, window)), dtype=np.float32)
    count = np.zeros(max(n, window), dtype=np.float32)
    for starts, _, cams in window_outputs(network, image, window=window, hop=hop, batch_size=batch_size):
        for start, cam in zip(starts, upsample(cams, image.shape[0], window)):
            total[:, start : start + window] += cam
            count[start : start + window] += 1
    return (total / np.maximum(count, 1))[:, :n]
