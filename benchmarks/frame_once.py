"""What scoring each frame once (fully convolutionally) would change, on every corpus clip and shipped variant.

Serving cuts a recording's image into windows that overlap by half, so every
frame goes through a network twice. The exported graphs accept any number of
frames, so the whole image could go through once, and each window's logit be
read off the class activation map: the mean of the last-stage cells under the
window (weighted by how much of each cell it covers) plus the head's bias,
which is exact for one window scored alone. This script measures, per
variant, on the subject's speech of every clip: the network time of both ways
(median ratio), the largest and the median change of a window's logit, and the
largest change of the recording's calibrated p(deceptive) and of the AUC of
the shipped scores. The last line printed is one JSON object.

Usage::

    python benchmarks/frame_once.py [--data MANIFEST] [--weights weights] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from deceptio.modeling.images import feature_images, stack_images
from deceptio.modeling.scoring import sigmoid, window_logits
from deceptio.paths import DEFAULT_WEIGHTS
from deceptio.serving.detector import Detector
from deceptio.training.data import default_manifest, extract_dataset, load_dataset
from deceptio.training.metrics import roc_auc


def once_logits(network, image: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """Window logits read off one pass of the whole ``(rows, frames)`` image (the fully convolutional way)."""
    _, cam = network(image[None, None])
    columns = cam[0].mean(axis=0).astype(np.float64)  # one value per last-stage cell along time
    one_logit, one_cam = network(image[None, None, :, :window])
    bias = float(one_logit[0] - one_cam[0].mean())  # logit = mean(cam) + bias, exact for one window
    per_cell = image.shape[1] / columns.size
    edges = np.arange(columns.size + 1) * per_cell
    out = np.empty(len(starts))
    for i, start in enumerate(starts):
        end = start + min(window, image.shape[1])
        cover = np.clip(np.minimum(edges[1:], end) - np.maximum(edges[:-1], start), 0, None)
        out[i] = (cover * columns).sum() / cover.sum() + bias
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_manifest())
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--cache-dir", type=Path, default=None, help="feature cache (default: recompute)")
    args = parser.parse_args(argv)
    detector = Detector(args.weights)
    clips = load_dataset(args.data)
    data = extract_dataset(clips, feature_config=detector.feature_config, vad_config=detector.input.vad,
                           cache_dir=args.cache_dir, progress=True)
    labels = np.array([clip.label for clip in clips])
    variants = [name for name in detector.variants if not detector.card(name).get("members")]
    rows = {}
    for name in variants:
        settings = detector.model_input(name)
        network = detector._models[name].model
        temperature = detector.calibration(name).temperature
        window, hop = settings.window.window_frames, settings.window.hop_frames
        ratios, changes, p_windows, p_once = [], [], [], []
        for item in tqdm(data, desc=name, unit="clip", leave=False):
            images = feature_images(item.features, item.subject_frames, settings.layout, config=settings.images,
                                    sample_rate=settings.features.sample_rate)
            parts = [images[part] for part in settings.layout]
            image = stack_images(images, settings.layout)
            began = time.perf_counter()
            windowed, starts = window_logits(network, parts, window=window, hop=hop)
            middle = time.perf_counter()
            once = once_logits(network, image, starts, window) if image.shape[1] >= window else windowed
            ratios.append((time.perf_counter() - middle) / (middle - began))
            changes.append(np.abs(once - windowed))
            p_windows.append(float(sigmoid(windowed.mean() / temperature)))
            p_once.append(float(sigmoid(once.mean() / temperature)))
        changes = np.concatenate(changes)
        rows[name] = {
            "window_frames": window, "hop_frames": hop,
            "time_once_over_windows_median": round(float(np.median(ratios)), 3),
            "window_logit_change_max": round(float(changes.max()), 3),
            "window_logit_change_median": round(float(np.median(changes)), 3),
            "p_change_max": round(float(np.max(np.abs(np.subtract(p_once, p_windows)))), 4),
            "auc_windows": round(roc_auc(labels, np.array(p_windows)), 4),
            "auc_once": round(roc_auc(labels, np.array(p_once)), 4),
        }
        print(name, rows[name], flush=True)
    print(json.dumps({"clips": len(data), "variants": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
