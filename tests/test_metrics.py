from __future__ import annotations

import numpy as np
import pytest

from deceptio.modeling.scoring import sigmoid
from deceptio.training.metrics import (
    accuracy,
    balanced_accuracy,
    expected_calibration_error,
    fit_temperature,
    roc_auc,
    speaker_bootstrap_ci,
    summarize,
)
from deceptio.training.train import clip_weights


def test_auc_known_answers():
    labels = np.array([0, 0, 1, 1])
    assert roc_auc(labels, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert roc_auc(labels, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert roc_auc(labels, np.full(4, 0.5)) == 0.5
    assert np.isnan(roc_auc(np.ones(3), np.arange(3)))


def test_accuracy_and_balanced_accuracy():
    labels = np.array([1, 1, 1, 0])
    always_deceptive = np.ones(4)
    assert accuracy(labels, always_deceptive) == 0.75
    assert balanced_accuracy(labels, always_deceptive) == 0.5


def test_ece_is_zero_when_calibrated_and_large_when_overconfident():
    labels = np.array([1] * 7 + [0] * 3)
    assert expected_calibration_error(labels, np.full(10, 0.7)) == pytest.approx(0.0)
    assert expected_calibration_error(labels, np.full(10, 0.99)) == pytest.approx(0.29)


def test_temperature_recovers_a_known_scale(rng):
    true_logits = rng.normal(0, 1.5, 20000)
    labels = (rng.random(true_logits.size) < sigmoid(true_logits)).astype(float)
    # A model three times too confident is corrected by T ≈ 3.
    assert fit_temperature(3 * true_logits, labels) == pytest.approx(3.0, rel=0.1)


def test_speaker_bootstrap_ci_brackets_the_estimate(rng):
    speakers = np.repeat(np.arange(30), 3)
    labels = rng.integers(0, 2, speakers.size)
    scores = labels + rng.normal(0, 1, speakers.size)
    lo, hi = speaker_bootstrap_ci(roc_auc, labels, scores, speakers, n_resamples=300)
    assert lo < roc_auc(labels, scores) < hi
    assert hi - lo < 0.5


def test_summarize():
    s = summarize([0.6, 0.8])
    assert s["mean"] == pytest.approx(0.7) and s["std"] == pytest.approx(0.1414, abs=1e-3)


def test_gender_label_weights_remove_gender_information():
    labels = np.array([1] * 8 + [0] * 2 + [1] * 2 + [0] * 6)
    genders = ["F"] * 10 + ["M"] * 8
    w = clip_weights(labels, genders, "gender_label")
    g = np.array(genders)
    for gender in ("F", "M"):
        in_g = g == gender
        share = w[in_g & (labels == 1)].sum() / w[in_g].sum()
        assert share == pytest.approx(0.5)
    assert w.mean() == pytest.approx(1.0)


def test_bootstrap_of_an_empty_subset_is_nan():
    lo, hi = speaker_bootstrap_ci(roc_auc, np.array([]), np.array([]), np.array([]))
    assert np.isnan(lo) and np.isnan(hi)


def test_rank_auc_matches_sklearn_with_ties(rng):
    from sklearn.metrics import roc_auc_score

    labels = rng.integers(0, 2, 200)
    scores = np.round(labels * 0.3 + rng.random(200), 1)  # many ties
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_within_speaker_auc_known_answers():
    from deceptio.training.metrics import within_speaker_auc

    labels = np.array([1, 1, 0, 0, 1, 0, 1])
    speakers = np.array(["a", "a", "a", "a", "b", "b", "c"])  # c has one label: ignored
    perfect = within_speaker_auc(labels, np.array([0.9, 0.8, 0.1, 0.2, 0.6, 0.4, 0.0]), speakers)
    assert perfect["value"] == 1.0 and perfect["n_pairs"] == 5 and perfect["n_speakers"] == 2
    # Speaker a ranked perfectly (4 pairs), b backwards (1 pair): 4 of 5 pairs right.
    mixed = within_speaker_auc(labels, np.array([0.9, 0.8, 0.1, 0.2, 0.4, 0.6, 0.0]), speakers)
    assert mixed["value"] == pytest.approx(0.8)
    assert mixed["ci95"][0] <= 0.8 <= mixed["ci95"][1]
    # A score that is constant within each speaker ranks no pair: 0.5.
    assert within_speaker_auc(labels, np.array([0.7, 0.7, 0.7, 0.7, 0.2, 0.2, 0.9]), speakers)["value"] == 0.5


def test_gender_indicator_predicts_gender_perfectly_but_not_the_balanced_label():
    from deceptio.training.metrics import gender_balanced_auc

    genders = np.array(["F"] * 10 + ["M"] * 10)
    labels = np.array([1] * 8 + [0] * 2 + [1] * 2 + [0] * 8)  # deceptive mostly women
    gender_score = (genders == "F").astype(float)
    assert roc_auc(genders == "F", gender_score) == 1.0  # auc_score_gender of a gender detector
    assert roc_auc(labels, gender_score) > 0.75  # looks good on the label...
    assert gender_balanced_auc(labels, gender_score, genders) == pytest.approx(0.5)  # ...and is chance once balanced
    assert gender_balanced_auc(labels, labels.astype(float), genders) == 1.0
