"""From a network's window outputs to calibrated probabilities and verdicts; numpy only, no torch.

A *network* here is any callable that takes windows ``(n, 1, rows, frames)``
(float32) and returns ``(logits (n,), cam (n, cells_rows, cells_frames))``:
an ONNX Runtime session when serving (:class:`deceptio.serving.onnx.OnnxNetwork`),
a trained torch model when training (:func:`deceptio.modeling.models.as_network`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from scipy.special import expit

from deceptio.modeling.images import WindowConfig, cut_windows, window_starts

__all__ = ["VERDICTS", "Network", "sigmoid", "verdict_for", "window_logits", "window_outputs", "recording_logit"]

VERDICTS = ("truthful", "deceptive", "inconclusive")

Network = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


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


def window_outputs(
    network: Network, image: np.ndarray | list[np.ndarray], *, window: int, hop: int, batch_size: int = 64
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(starts, logits, cams)`` of the analysis windows of one ``(rows, frames)`` image (or a list of them, stacked), batch by batch.

    Windows are cut per batch: the windows of a long recording never exist at once.
    """
    frames = (image[0] if isinstance(image, (list, tuple)) else image).shape[1]
    starts = window_starts(frames, window=window, hop=hop)
    for i in range(0, len(starts), batch_size):
        batch = starts[i : i + batch_size]
        logits, cams = network(cut_windows(image, batch, window=window)[:, np.newaxis])
        yield batch, np.asarray(logits, dtype=np.float64), np.asarray(cams, dtype=np.float32)


def window_logits(
    network: Network, image: np.ndarray | list[np.ndarray], *, window: int, hop: int, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Logits of every analysis window of one image (or a list of them, stacked), and the windows' start frames."""
    parts = list(window_outputs(network, image, window=window, hop=hop, batch_size=batch_size))
    return np.concatenate([logits for _, logits, _ in parts]), np.concatenate([starts for starts, _, _ in parts])


def recording_logit(network: Network, image: np.ndarray | list[np.ndarray], window: WindowConfig) -> float:
    """The logit of a whole recording's image under a model's window settings: the mean of its windows' logits
    (a whole-recording model's one logit)."""
    frames = (image[0] if isinstance(image, (list, tuple)) else image).shape[1]
    length, hop = window.scoring(frames)
    return float(window_logits(network, image, window=length, hop=hop)[0].mean())
