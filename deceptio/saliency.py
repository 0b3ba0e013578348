"""Grad-CAM: which parts of a feature image pushed a variant's ResNet towards "deceptive"."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from deceptio.images import cut_windows, window_starts
from deceptio.models import SlimResNet

__all__ = ["grad_cam", "image_saliency"]


def grad_cam(model: SlimResNet, windows: torch.Tensor) -> np.ndarray:
    """Grad-CAM of the deceptive logit over ``windows`` ``(n, 1, rows, frames)``.

    Uses the third stage (finer than the last: about rows/16 × frames/32
    cells), weights its channels by the mean gradient of the logit, keeps the
    positive part and upsamples to the input size. Positive means "this region
    raised p(deceptive)"; the maps are not normalised, so windows compare.

    Returns
    -------
    np.ndarray [shape=(n, rows, frames)], float32, >= 0
    """
    captured: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        output.retain_grad()
        captured["activation"] = output

    handle = model.layer3.register_forward_hook(keep)
    try:
        was_training = model.training
        model.eval()
        with torch.enable_grad():
            logits = model(windows)
            logits.sum().backward()
        model.train(was_training)
    finally:
        handle.remove()
    activation = captured["activation"]
    weights = activation.grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * activation).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=windows.shape[-2:], mode="bilinear", align_corners=False)
    model.zero_grad(set_to_none=True)
    return cam[:, 0].detach().numpy().astype(np.float32)


def image_saliency(model: SlimResNet, image: np.ndarray, *, window: int, hop: int) -> np.ndarray:
    """Grad-CAM over a whole ``(rows, frames)`` image: window maps averaged where windows overlap."""
    starts = window_starts(image.shape[1], window=window, hop=hop)
    windows = torch.from_numpy(cut_windows(image, starts, window=window)).unsqueeze(1)
    maps = grad_cam(model, windows)
    n = image.shape[1]
    total = np.zeros((image.shape[0], max(n, window)), dtype=np.float32)
    count = np.zeros(max(n, window), dtype=np.float32)
    for start, cam in zip(starts, maps):
        total[:, start : start + window] += cam
        count[start : start + window] += 1
    return (total / np.maximum(count, 1))[:, :n]
