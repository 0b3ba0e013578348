"""Would weighting the ensemble by out-of-fold performance beat the equal-weight mean? Measured from a CV report.

For every repeat and outer fold, each variant's weight is its AUC above
chance on the *training* clips' out-of-fold scores (so the test fold's
labels choose nothing directly; the training clips' scores still come from
models that saw the test fold, which if anything flatters the weighting).
Compared, in the same folds: the equal-weight mean (what ships), the
AUC-weighted mean, and the single variant best on the training clips.

Usage::

    python benchmarks/ensemble_weights.py [--report reports/cv_report.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


from deceptio.paths import REPO
from deceptio.training.cv import CVConfig, make_folds
from deceptio.training.metrics import roc_auc
from deceptio.modeling.variants import MODEL_VARIANTS


def combine(report: dict) -> dict[str, np.ndarray]:
    """AUC overall and among female subjects per repeat, shape (repeats, 2), for each way of combining."""
    oof = report["out_of_fold"]
    labels, speakers = np.array(oof["labels"]), np.array(oof["speakers"])
    female = np.array(oof["genders"]) == "F"
    protocol = report["protocol"]
    cv = CVConfig(folds=protocol["folds"], repeats=protocol["repeats"], first_seed=protocol.get("first_seed", 0))
    names = [name for name in MODEL_VARIANTS if name in oof["probabilities"]]
    scores = {name: np.array(oof["probabilities"][name]) for name in names}
    results: dict[str, list] = {"equal weights (shipped)": [], "weighted by training-clip AUC": [], "best variant on the training clips": []}
    for repeat, fold_of in enumerate(make_folds(labels, speakers, cv)):
        weighted, best = np.empty(len(labels)), np.empty(len(labels))
        for k in np.unique(fold_of):
            test, train = fold_of == k, fold_of != k
            aucs = np.array([roc_auc(labels[train], scores[name][repeat][train]) for name in names])
            weights = np.maximum(aucs - 0.5, 0.0)
            weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(names), 1 / len(names))
            weighted[test] = sum(w * scores[name][repeat][test] for w, name in zip(weights, names))
            best[test] = scores[names[int(np.argmax(aucs))]][repeat][test]
        equal = np.mean([scores[name][repeat] for name in names], axis=0)
        for label, p in zip(results, (equal, weighted, best)):
            results[label].append((roc_auc(labels, p), roc_auc(labels[female], p[female])))
    return {label: np.array(rows) for label, rows in results.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=REPO / "reports" / "cv_report.json")
    args = parser.parse_args(argv)
    for label, rows in combine(json.loads(args.report.read_text())).items():
        print(f"{label:<36} AUC {rows[:, 0].mean():.3f} ± {rows[:, 0].std():.3f}   female {rows[:, 1].mean():.3f} ± {rows[:, 1].std():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
