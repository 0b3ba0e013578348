"""Would another calibration bring every variant's ECE under 0.08? Measured on a CV report's raw out-of-fold logits.

Each row is scored in the report's folds (ECE over 10 bins, mean over
repeats, and AUC):

- ``inner temperature``: sigmoid(z / T) with each outer model's own T,
  fitted on the inner out-of-fold logits of the configuration it refits:
  what a nested report (since 2026-12-04) and the cards use;

and three calibrators fitted per test fold on the other folds' out-of-fold
logits:

- ``temperature``: sigmoid(z / T), what the first nested run and the plain
  evaluation use;
- ``platt``: sigmoid(a z + b), a scale and a bias;
- ``standardised per fold``: each fold's logits centred and scaled by that
  fold's own mean and spread before a temperature. It reads the test fold's
  scores together, which one recording on the page cannot do: not a method
  to ship, but a bound on what removing the fold-to-fold scale buys;
- ``if exact``: the ECE the report's probabilities would have if they were
  exactly right (labels drawn from them, median of 200 draws): the floor 121
  clips in 10 bins leave.

Also printed: the spread of each outer model's logits (sd over its test
fold), fold by fold, which is what one temperature per test fold cannot follow.

Usage::

    python benchmarks/calibration_methods.py [--report reports/nested/cv_report.json]

The report must hold ``out_of_fold.logits`` (reports written since they were added).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from deceptio.paths import REPO
from deceptio.training.cv import CVConfig, crossfit_calibrate, make_folds
from deceptio.training.metrics import expected_calibration_error, roc_auc


def fit_platt(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Scale and bias minimising the log-loss of sigmoid(a z + b)."""

    def nll(w: np.ndarray) -> float:
        s = w[0] * logits + w[1]
        return -float(np.mean(labels * log_expit(s) + (1 - labels) * log_expit(-s)))

    a, b = minimize(nll, np.array([0.1, 0.0]), method="L-BFGS-B").x
    return float(a), float(b)


def _standardise(z: np.ndarray) -> np.ndarray:
    return (z - z.mean()) / max(float(z.std()), 1e-9)


def calibrate(method: str, logits: np.ndarray, labels: np.ndarray, fold_of: np.ndarray) -> np.ndarray:
    """Probabilities of one repeat, each test fold calibrated on the other folds' logits only."""
    if method == "temperature":
        return crossfit_calibrate(logits, labels, fold_of)
    if method == "standardised per fold":
        scaled = np.empty(len(logits))
        for k in np.unique(fold_of):
            scaled[fold_of == k] = _standardise(logits[fold_of == k])
        return crossfit_calibrate(scaled, labels, fold_of)
    if method != "platt":
        raise ValueError(method)
    p = np.empty(len(logits))
    for k in np.unique(fold_of):
        test, rest = fold_of == k, fold_of != k
        a, b = fit_platt(logits[rest], labels[rest])
        p[test] = expit(a * logits[test] + b)
    return p


def exact_floor(p: np.ndarray, *, draws: int = 200, seed: int = 0) -> float:
    """Median ECE of ``p`` against labels drawn from ``p`` itself."""
    rng = np.random.default_rng(seed)
    return float(np.median([expected_calibration_error(rng.random(p.size) < p, p) for _ in range(draws)]))


METHODS = ("temperature", "platt", "standardised per fold")


def measure(report: dict) -> dict[str, dict]:
    oof = report["out_of_fold"]
    if "logits" not in oof:
        raise SystemExit("the report holds no out_of_fold.logits: write it again with this version "
                         "(deceptio evaluate [--nested] with the same --cache-dir refits nothing)")
    labels, speakers = np.array(oof["labels"], dtype=float), np.array(oof["speakers"])
    protocol = report["protocol"]
    folds = make_folds(labels.astype(int), speakers, CVConfig(folds=protocol["folds"], repeats=protocol["repeats"],
                                                              first_seed=protocol["seeds"][0]))
    rows = {}
    for name, repeats in oof["logits"].items():
        logits = [np.asarray(z, dtype=float) for z in repeats]
        row, calibrated = {}, {}
        for method in METHODS:
            calibrated[method] = [calibrate(method, z, labels, f) for z, f in zip(logits, folds)]
            row[method] = {"ece": float(np.mean([expected_calibration_error(labels, p) for p in calibrated[method]])),
                           "auc": float(np.mean([roc_auc(labels, p) for p in calibrated[method]]))}
        temperatures = report["methods"][name].get("outer_temperatures")
        if temperatures:  # each outer model's own temperature, from its inner CV
            calibrated["inner temperature"] = [
                expit(z / np.asarray(t)[f]) for z, t, f in zip(logits, temperatures, folds)]
        else:
            calibrated["inner temperature"] = [np.full(len(labels), np.nan)] * len(logits)
        row["inner temperature"] = {
            "ece": float(np.mean([expected_calibration_error(labels, p) for p in calibrated["inner temperature"]]))
            if temperatures else float("nan"),
            "auc": float(np.mean([roc_auc(labels, p) for p in calibrated["inner temperature"]])) if temperatures else float("nan")}
        reported = [np.asarray(p, dtype=float) for p in oof["probabilities"][name]]
        row["if exact"] = {"ece": float(np.mean([exact_floor(p) for p in reported]))}
        row["fold_sd"] = [round(float(z[f == k].std()), 2) for z, f in zip(logits, folds) for k in np.unique(f)]
        rows[name] = row
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=REPO / "reports" / "nested" / "cv_report.json")
    args = parser.parse_args(argv)
    rows = measure(json.loads(args.report.read_text()))
    columns = ("inner temperature", *METHODS, "if exact")
    print("| variant | " + " | ".join(f"ECE {m}" for m in columns) + " | AUC temperature / platt | "
          "logit sd per outer fold (min–max) |")
    print("| --- |" + " --- |" * (len(columns) + 2))
    for name, row in rows.items():
        eces = " | ".join(f"{row[m]['ece']:.3f}" for m in columns)
        print(f"| {name} | {eces} | {row['temperature']['auc']:.3f} / {row['platt']['auc']:.3f} | "
              f"{min(row['fold_sd']):.2f}–{max(row['fold_sd']):.2f} |")
    print(json.dumps({"report": str(args.report), "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
