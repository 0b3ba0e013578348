"""From a network's window logits to a calibrated probability and a verdict (forward passes only)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import expit

from deceptio.modeling.images import cut_windows, window_starts
from deceptio.modeling.models import SlimResNet

__all__ = ["VERDICTS", "sigmoid", "verdict_for", "window_logits"]

VERDICTS = ("truthful", "deceptive", "inconclusive")


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings for large ``|x|``."""
    return expit(x)


def verdict_for(p_deceptive: float, band: float) -> str:
    """``deceptive`` / ``truthful`` outside ``0.5 ± band``, else ``inconclusive``."""
    if p_deceptive >= 0.5 + band:
        return "deceptive"
    if p_deceptive <= 0.5 - band:
        return "truthful"
    return "inconclusive"


@torch.inference_mode()
def window_logits(
    model: SlimResNet, image: np.ndarray | list[np.ndarray], *, window: int, hop: int, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Logits of every analysis window of one ``(rows, frames)`` image (or a list of them, stacked), and the windows' start frames."""
    frames = (image[0] if isinstance(image, (list, tuple)) else image).shape[1]
    starts = window_starts(frames, window=window, hop=hop)
    logits = []
    for i in range(0, len(starts), batch_size):  # cut per batch: the windows of a long recording never exist at once
        windows = torch.from_numpy(cut_windows(image, starts[i : i + batch_size], window=window)).unsqueeze(1)
        logits.append(model(windows.contiguous(memory_format=torch.channels_last)))  # what fused models run fastest on
    return torch.cat(logits).numpy().astype(np.float64), starts
