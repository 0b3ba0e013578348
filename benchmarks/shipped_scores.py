"""Scores every corpus clip with the shipped weights from freshly computed features, to prove a speed-up changed nothing.

The evaluation figures of the shipped weights depend on the features and the
models' outputs only. This script recomputes each clip's features (no cache),
scores the subject's speech with every shipped variant and the ensemble, and
either writes the probabilities (``--write``) or compares them with a stored
file and prints the largest difference, feature by feature and score by score.
Run it with ``--write`` before a change to the signal path and without it after.

It also scores every clip with the torch models the ONNX graphs were exported
from and prints the largest difference of p(deceptive) per variant (the
parity check of serving without torch; ``--no-parity`` skips it).

Usage::

    python benchmarks/shipped_scores.py --file SCORES.json [--write] [--data MANIFEST] [--weights weights]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm


from deceptio.paths import REPO
from deceptio.training.data import default_manifest, extract_dataset, load_dataset
from deceptio.serving.detector import Detector
from deceptio.modeling.scoring import recording_logit, sigmoid
from deceptio.training.metrics import roc_auc

DEFAULT_MANIFEST = default_manifest()


def _torch_networks(detector: Detector) -> dict:
    """The shipped safetensors as torch scoring networks, beside the ONNX graphs the Detector runs (for parity)."""
    from deceptio.modeling.card import load_card
    from deceptio.modeling.models import as_network
    from deceptio.modeling.weights import load_model

    return {name: as_network(load_model(detector.weights, load_card(detector.weights, name)))
            for name in detector.variants if not detector.card(name).get("members")}


def _torch_p(detector: Detector, networks: dict, images: dict, name: str) -> float:
    """p(deceptive) of ``name`` from the torch networks, by the same recipe as the Detector."""
    members = detector.card(name).get("members") or [name]
    p = []
    for member in members:
        settings = detector.model_input(member)
        logit = recording_logit(networks[member], [images[part] for part in settings.layout], settings.window)
        p.append(float(sigmoid(logit / detector.calibration(member).temperature)))
    return float(np.mean(p))


def score_clips(manifest: Path, weights: Path, *, parity: bool = True) -> dict:
    """Per-clip p(deceptive) of every shipped variant, a fingerprint of each clip's features and, with torch
    installed, the largest difference between the ONNX graphs' p and the torch models' p."""
    detector = Detector(weights)
    networks = _torch_networks(detector) if parity else {}
    clips = load_dataset(manifest)
    scores: dict[str, list[float]] = {name: [] for name in detector.variants}
    parity_gap = {name: 0.0 for name in detector.variants}
    fingerprints: dict[str, list[list[float]]] = {}
    for item in tqdm(clips, desc="clips", unit="clip"):
        [data] = extract_dataset([item], feature_config=detector.feature_config, vad_config=detector.input.vad, cache_dir=None,
                                 progress=False)
        for name in detector.variants:
            score = detector.score_frames(data.features, data.subject_frames, variant=name)
            scores[name].append(score.p)
            if networks:
                parity_gap[name] = max(parity_gap[name], abs(score.p - _torch_p(detector, networks, score.images, name)))
        for key, value in data.features.items():
            # Mean and spread of each feature row: small enough to store, sensitive to any change.
            value = np.atleast_2d(value.astype(np.float64))
            fingerprints.setdefault(key, []).append(np.concatenate([value.mean(axis=1), value.std(axis=1)]).tolist())
    labels = np.array([clip.label for clip in clips])
    return {
        "clip_ids": [clip.id for clip in clips],
        "labels": labels.tolist(),
        "scores": scores,
        "auc": {name: roc_auc(labels, np.array(p)) for name, p in scores.items()},
        **({"onnx_torch_max_abs_diff_p": parity_gap} if networks else {}),
        "fingerprints": fingerprints,
    }


def compare(old: dict, new: dict) -> float:
    """Print the largest differences; return the largest change of any probability."""
    if old["clip_ids"] != new["clip_ids"]:
        raise SystemExit("the stored file scores other clips; rerun with --write")
    for key in old["fingerprints"]:
        a, b = np.array(old["fingerprints"][key]), np.array(new["fingerprints"][key])
        scale = max(float(np.abs(a).max()), 1e-12)
        print(f"  feature {key:<13} largest change of a row mean/sd: {float(np.abs(a - b).max()):.2e} (relative {float(np.abs(a - b).max()) / scale:.1e})")
    worst = 0.0
    for name in old["scores"]:
        change = float(np.abs(np.array(old["scores"][name]) - np.array(new["scores"][name])).max())
        worst = max(worst, change)
        print(f"  {name:<13} largest change of p(deceptive): {change:.2e}; in-sample AUC (the weights were trained on these clips: not a performance figure) {old['auc'][name]:.4f} -> {new['auc'][name]:.4f}")
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--weights", type=Path, default=REPO / "weights")
    parser.add_argument("--file", type=Path, required=True, help="where the scores are stored (--write) or read from")
    parser.add_argument("--write", action="store_true", help="store the scores instead of comparing with them")
    parser.add_argument("--no-parity", action="store_true", help="skip scoring with the torch models (parity with the ONNX graphs)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    new = score_clips(args.data, args.weights, parity=not args.no_parity)
    print(f"scored {len(new['clip_ids'])} clips in {time.perf_counter() - start:.0f} s")
    if "onnx_torch_max_abs_diff_p" in new:
        gap = new["onnx_torch_max_abs_diff_p"]
        print("ONNX vs torch, largest |Δp(deceptive)| over the clips: " + ", ".join(f"{k} {v:.1e}" for k, v in gap.items()))
        print(json.dumps({"onnx_torch_max_abs_diff_p": max(gap.values()), "clips": len(new["clip_ids"])}))
    if args.write:
        args.file.write_text(json.dumps(new) + "\n")
        print(f"wrote {args.file}")
        return 0
    worst = compare(json.loads(args.file.read_text()), new)
    print(json.dumps({"max_abs_change_p": worst}))
    return 0 if worst < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
