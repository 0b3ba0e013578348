"""Grad-CAM (Selvaraju et al. 2017): a training-side saliency tool for models that can be differentiated.

Serving never differentiates: its networks are BatchNorm-folded ONNX graphs
whose class activation map comes out of the forward pass
(:mod:`deceptio.modeling.saliency`). Grad-CAM reads the finer third stage
but needs a backward pass, so it takes the trained, unfolded model in eval
mode and refuses a scoring copy.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from deceptio.errors import ParameterError
from deceptio.modeling.models import SlimResNet

__all__ = ["grad_cam"]


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

