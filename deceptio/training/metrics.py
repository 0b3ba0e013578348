"""Scores of a detector against labels: discrimination, calibration and their uncertainty."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_expit
from scipy.stats import rankdata


__all__ = [
    "roc_auc",
    "accuracy",
    "balanced_accuracy",
    "expected_calibration_error",
    "fit_temperature",
    "speaker_bootstrap_ci",
    "summarize",
    "within_speaker_auc",
    "gender_balanced_auc",
    "label_balance_weights",
]


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC (ties count half) from the Mann–Whitney rank sum; NaN when only one class is present.

    Rank-based rather than sklearn's curve integration because the speaker
    bootstrap calls it thousands of times.
    """
    labels = np.asarray(labels).astype(bool)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def accuracy(labels: np.ndarray, probabilities: np.ndarray) -> float:
    return float(np.mean((np.asarray(probabilities) >= 0.5) == np.asarray(labels).astype(bool)))


def balanced_accuracy(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean of the recalls of both classes (0.5 for any constant guess)."""
    labels = np.asarray(labels).astype(bool)
    predicted = np.asarray(probabilities) >= 0.5
    recalls = [np.mean(predicted[labels == c] == c) for c in (False, True) if np.any(labels == c)]
    return float(np.mean(recalls))


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, *, n_bins: int = 10) -> float:
    """ECE over ``n_bins`` equal-width bins of p(deceptive): Σ (n_b/n)·|mean p − share deceptive|."""
    labels = np.asarray(labels, dtype=np.float64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    bins = np.minimum((probabilities * n_bins).astype(int), n_bins - 1)
    error = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        error += in_bin.mean() * abs(probabilities[in_bin].mean() - labels[in_bin].mean())
    return float(error)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature T minimising the log-loss of sigmoid(logit / T), searched in [0.05, 20]."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        return -float(np.mean(labels * log_expit(z) + (1 - labels) * log_expit(-z)))

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))


def speaker_bootstrap_ci(
    metric,
    labels: np.ndarray,
    scores: np.ndarray,
    speakers: np.ndarray,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile CI of ``metric(labels, scores)`` resampling whole speakers with replacement.

    Speakers, not clips, are the independent units: resampling clips would
    pretend that 21 clips of one person are 21 pieces of evidence.
    """
    rng = np.random.default_rng(seed)
    speakers = np.asarray(speakers)
    unique = np.unique(speakers)
    if unique.size == 0:
        return float("nan"), float("nan")
    members = [np.flatnonzero(speakers == s) for s in unique]
    values = []
    for _ in range(n_resamples):
        index = np.concatenate([members[i] for i in rng.integers(0, len(unique), len(unique))])
        value = metric(labels[index], scores[index])
        if np.isfinite(value):
            values.append(value)
    if not values:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def summarize(values: list[float]) -> dict:
    """``{"mean", "std", "values"}`` over repeats (std with ddof=1; NaNs ignored)."""
    array = np.asarray(values, dtype=np.float64)
    finite = array[np.isfinite(array)]
    return {
        "mean": float(finite.mean()) if finite.size else float("nan"),
        "std": float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
        "values": [round(float(v), 6) for v in array],
    }


def _pair_counts(labels: np.ndarray, scores: np.ndarray) -> tuple[float, int]:
    """(pairs ranked right, ties half, and number of pairs) over all (deceptive, truthful) pairs."""
    deceptive = scores[labels == 1]
    truthful = scores[labels == 0]
    diff = deceptive[:, None] - truthful[None, :]
    return float((diff > 0).sum() + 0.5 * (diff == 0).sum()), int(diff.size)


def within_speaker_auc(
    labels: np.ndarray,
    scores: np.ndarray,
    speakers: np.ndarray,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """Share of a speaker's own (deceptive, truthful) pairs ranked right, pooled over speakers.

    Only speakers with both labels count. Neither gender nor identity can
    explain this comparison. Returns ``{"value", "ci95", "n_pairs",
    "n_speakers"}``; the CI resamples those speakers.
    """
    labels, scores, speakers = np.asarray(labels), np.asarray(scores, dtype=np.float64), np.asarray(speakers)
    counts = []
    for speaker in np.unique(speakers):
        mine = speakers == speaker
        if len(np.unique(labels[mine])) == 2:
            counts.append(_pair_counts(labels[mine], scores[mine]))
    if not counts:
        return {"value": float("nan"), "ci95": [float("nan"), float("nan")], "n_pairs": 0, "n_speakers": 0}
    right, pairs = np.array(counts).T
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(right), (n_resamples, len(right)))
    boot = right[draws].sum(axis=1) / pairs[draws].sum(axis=1)
    return {
        "value": float(right.sum() / pairs.sum()),
        "ci95": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))],
        "n_pairs": int(pairs.sum()),
        "n_speakers": len(right),
    }


def label_balance_weights(labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per clip ``n_g / (2 n_{g,label})`` for its group g: each group keeps its size, its two labels weigh the same.

    With genders as groups, gender then says nothing about the label: training
    weighs clips so, and :func:`gender_balanced_auc` scores with it.
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    weights = np.zeros(labels.size)
    for group in np.unique(groups):
        in_group = groups == group
        for label in (0, 1):
            cell = in_group & (labels == label)
            if cell.any():
                weights[cell] = in_group.sum() / (2.0 * cell.sum())
    return weights


def gender_balanced_auc(labels: np.ndarray, scores: np.ndarray, genders: np.ndarray) -> float:
    """AUC with clips weighted so that the deceptive share is 1/2 among women and among men.

    Weights are :func:`label_balance_weights` by gender, so a score that only
    knows gender scores 0.5. Clips of unknown gender are left out.
    """
    labels, scores, genders = np.asarray(labels), np.asarray(scores, dtype=np.float64), np.asarray(genders)
    known = np.isin(genders, ("F", "M"))
    labels, scores, genders = labels[known], scores[known], genders[known]
    weights = label_balance_weights(labels, genders)
    positive, negative = labels == 1, labels == 0
    if not positive.any() or not negative.any():
        return float("nan")
    diff = scores[positive][:, None] - scores[negative][None, :]
    pair_weights = weights[positive][:, None] * weights[negative][None, :]
    right = ((diff > 0) + 0.5 * (diff == 0)) * pair_weights
    return float(right.sum() / pair_weights.sum())
