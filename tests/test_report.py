"""The report's lines against the targets: met or missed, by how much, each computed from the figures it names."""

from __future__ import annotations

import re

from deceptio.training.report import _target_lines


def _metrics(**means: float) -> dict:
    keys = ("auc", "gender_balanced_auc", "auc_female_without_dominant", "auc_within_speaker", "auc_score_gender",
            "auc_channel_subset", "ece")
    return {key: {"mean": means.get(key, 0.5), "std": 0.0} for key in keys}


def _report(**models: dict) -> dict:
    methods = {name: {"kind": "variant", "metrics": metrics} for name, metrics in models.items()}
    methods["mfcc_logreg"] = {"kind": "baseline", "metrics": _metrics(gender_balanced_auc=0.646, auc_female_without_dominant=0.562,
                                                                      auc_within_speaker=0.788, auc=0.681)}
    methods["channel_only"] = {"kind": "baseline", "metrics": _metrics(auc=0.58)}
    return {"methods": methods, "data": {"dominant_speaker": "S3", "auc_label_gender": 0.704}}


def _rows(report: dict) -> dict[str, list[str]]:
    rows = [line for line in _target_lines(report) if line.startswith("| ") and not line.startswith(("| target", "| ---"))]
    return {cells[0]: cells[1:] for cells in ([c.strip() for c in row.strip("|").split("|")] for row in rows)}


def test_each_line_names_the_best_model_or_the_worst_and_its_margin():
    rows = _rows(_report(
        a=_metrics(gender_balanced_auc=0.70, auc_female_without_dominant=0.64, auc_within_speaker=0.60,
                   auc_score_gender=0.72, auc_channel_subset=0.63, ece=0.05, auc=0.66),
        b=_metrics(gender_balanced_auc=0.60, auc_female_without_dominant=0.67, auc_within_speaker=0.79,
                   auc_score_gender=0.40, auc_channel_subset=0.62, ece=0.09, auc=0.70),
    ))
    assert len(rows) == 7
    balanced = rows["gender-balanced AUC above `mfcc_logreg`"]
    assert balanced[0] == "a 0.700" and balanced[2:] == ["+0.054", "met"]
    women = rows["AUC among women without S3 above `mfcc_logreg` and ≥ 0.66"]
    assert women[0] == "b 0.670" and women[2:] == ["+0.010", "met"]  # measured against the aim, not the baseline's 0.562
    assert rows["within-speaker AUC above `mfcc_logreg`"][2:] == ["+0.002", "met"]
    gender = rows["AUC score→gender not above the label's, for every model"]
    assert gender[0] == "a 0.720 (the highest)" and gender[2:] == ["-0.016", "missed"]  # one model above the label misses
    assert rows["AUC on the channel subset ≥ 0.05 above `channel_only`"][2:] == ["+0.000", "met"]  # 0.58 + 0.05 reached
    ece = rows["ECE ≤ 0.08 for every model"]
    assert ece[0] == "b 0.090 (the highest)" and ece[2:] == ["-0.010", "missed"]
    assert rows["overall AUC above `mfcc_logreg`"][2:] == ["+0.019", "met"]


def test_a_tie_with_the_baseline_is_not_above_it_and_no_baselines_give_no_lines():
    rows = _rows(_report(a=_metrics(gender_balanced_auc=0.646)))
    assert rows["gender-balanced AUC above `mfcc_logreg`"][2:] == ["+0.000", "missed"]
    assert _target_lines({"methods": {"a": {"kind": "variant", "metrics": _metrics()}}, "data": {}}) == []
    assert all(re.fullmatch(r"[+-]\d\.\d{3}", cells[2]) for cells in rows.values())
