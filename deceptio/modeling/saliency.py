"""Saliency: which parts of a feature image pushed a variant's ResNet towards "deceptive".

:func:`class_activation_map` is what the Detector and the report use: the
class activation map of the last stage, an exact decomposition of each
window's logit computed in one forward pass, so it works on the BatchNorm-folded
scoring copies, which are never differentiated. :func:`grad_cam` is a
training-side tool for models that can be differentiated (the trained, unfolded
model in eval mode).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from deceptio.errors import ParameterError
from deceptio.modeling.images import cut_windows, window_starts
from deceptio.modeling.models import SlimResNet

__all__ = ["class_activation_map", "grad_cam", "image_saliency"]


def class_activation_map(model: SlimResNet, windows: torch.Tensor) -> np.ndarray:
    """CAM of the deceptive logit over ``windows`` ``(n, 1, rows, frames)``, upsampled to the input size.

    Signed, in logit units per cell: positive where a region raised
    p(deceptive), negative where it lowered it; maps are not normalised, so
    windows compare. See :meth:`SlimResNet.forward_cam`.

    Returns
    -------
    np.ndarray [shape=(n, rows, frames)], float32
    """
    _, cam = model.forward_cam(windows)
    cam = F.interpolate(cam.unsqueeze(1), size=windows.shape[-2:], mode="bilinear", align_corners=False)
    return cam[:, 0].numpy().astype(np.float32)


def grad_cam(model: SlimResNet, windows: torch.Tensor) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017) of the deceptive logit, from the third stage; training-side only.

    Finer than :func:`class_activation_map` (about rows/16 × frames/32 cells)
    but it needs a backward pass, so it refuses the scoring copies that
    :func:`~deceptio.modeling.models.fuse_for_inference` makes. Keeps the positive part.

    Returns
    -------
    np.ndarray [shape=(n, rows, frames)], float32, >= 0
    """
    if model.scoring_only:
        raise ParameterError("grad_cam needs a model that can be differentiated, not a scoring copy "
                             "(fuse_for_inference); use class_activation_map")
    captured: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        output.retain_grad()
        captured["activation"] = output

    handle = model.layer3.register_forward_hook(keep)
    was_training = model.training
    try:
        model.eval()
        with torch.enable_grad():
            model(windows).sum().backward()
    finally:
        handle.remove()
        model.train(was_training)
    activation = captured["activation"]
    weights = activation.grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * activation).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=windows.shape[-2:], mode="bilinear", align_corners=False)
    model.zero_grad(set_to_none=True)
    return cam[:, 0].detach().numpy().astype(np.float32)


def image_saliency(model: SlimResNet, image: np.ndarray, *, window: int, hop: int, batch_size: int = 64) -> np.ndarray:
    """Class activation map over a whole ``(rows, frames)`` image: window maps averaged where windows overlap."""
    starts = window_starts(image.shape[1], window=window, hop=hop)
    n = image.shape[1]
    total = np.zeros((image.shape[0], max(n, window)), dtype=np.float32)
    count = np.zeros(max(n, window), dtype=np.float32)
    for i in range(0, len(starts), batch_size):  # cut per batch, as scoring does
        batch = starts[i : i + batch_size]
        windows = torch.from_numpy(cut_windows(image, batch, window=window)).unsqueeze(1)
        for start, cam in zip(batch, class_activation_map(model, windows.contiguous(memory_format=torch.channels_last))):
            total[:, start : start + window] += cam
            count[start : start + window] += 1
    return (total / np.maximum(count, 1))[:, :n]
