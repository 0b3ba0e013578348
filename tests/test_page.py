"""What the page says about a result: the verdict line, the card's figures beside the baselines, progress."""

from __future__ import annotations


import pytest

from conftest import REPO, WEIGHTS
from deceptio.serving.detector import Analysis, Detector, WindowPrediction
from deceptio.serving.page import (
    CAVEAT,
    analyze_for_page,
    card_summary,
    variant_choices,
    variant_description,
    verdict_summary,
)
from deceptio.modeling.variants import VARIANTS


def _card(auc: float, auc_sd: float, gender: float) -> dict:
    figure = lambda mean, sd=0.02: {"mean": mean, "std": sd, "ci95": [mean - 0.1, mean + 0.1]}
    return {
        "variant": "lsf_lpc",
        "cv": {"auc": figure(auc, auc_sd), "accuracy": figure(0.6)},
        "baselines": {"gender_pitch": {"auc": figure(gender), "accuracy": figure(0.58)},
                      "majority": {"auc": figure(0.5, 0.0), "accuracy": figure(0.55, 0.0)}},
        "protocol": {"folds": 5, "repeats": 5, "grouped_by": "speaker"},
        "training_data": {"n_clips": 121, "n_speakers": 56},
    }


def test_card_summary_puts_auc_beside_both_baselines_with_their_spread():
    text = card_summary(_card(0.71, 0.04, 0.6))
    assert "**0.71 ± 0.04**" in text
    assert "gender from pitch (baseline) | 0.60 ± 0.02" in text
    assert "majority label (baseline) | 0.50 ± 0.00 | 0.55 ± 0.00" in text
    assert "5-fold cross-validation × 5 repeats on 121 clips of 56 speakers" in text
    assert "beats chance and the pitch-only guess by 0.11" in text and CAVEAT in text


@pytest.mark.parametrize("auc, sd, gender", [(0.55, 0.1, 0.4), (0.48, 0.02, 0.45), (0.53, 0.01, 0.7)])
def test_card_summary_says_plainly_when_a_model_does_not_beat_chance(auc, sd, gender):
    text = card_summary(_card(auc, sd, gender))
    assert "does not clearly beat chance" in text and "beats chance" not in text and CAVEAT in text


@pytest.mark.parametrize("auc, sd, gender", [(0.62, 0.05, 0.61), (0.57, 0.02, 0.68), (0.70, 0.02, 0.66)])
def test_card_summary_says_when_a_model_may_have_learned_gender(auc, sd, gender):
    text = card_summary(_card(auc, sd, gender))
    assert "not clearly better than guessing from the speaker's pitch" in text and f"({gender:.2f})" in text
    assert "may be gender, not deception" in text and "beats chance and" not in text


def test_a_card_without_figures_says_nothing_supports_it():
    text = card_summary({"variant": "prosody"})
    assert "no cross-validated figures" in text and CAVEAT in text


def test_verdict_summary_names_verdict_probability_band_and_members():
    analysis = Analysis(verdict="deceptive", p_deceptive=0.734, variant="ensemble", band=0.1, duration_s=12.0,
                        speech_s=9.5, windows=(WindowPrediction(0, 4, 0.7), WindowPrediction(2, 6, 0.8)),
                        members={"spec_mfcc": 0.7, "prosody": 0.77})
    text = verdict_summary(analysis)
    assert text.startswith("## Verdict: deceptive")
    assert "**0.73**" in text and "between 0.40 and 0.60" in text and "spec_mfcc 0.70" in text and "2 windows" in text


def test_variant_descriptions_are_the_registry_lines():
    for name, variant in VARIANTS.items():
        assert variant.description in variant_description(name) and name in variant_description(name)


def test_analyze_for_page_reports_progress_and_shows_the_variants_panels():
    detector = Detector(WEIGHTS, variants=("prosody",))
    assert [value for _, value in variant_choices(detector)] == ["prosody"]
    steps = []
    result = analyze_for_page(detector, REPO / "assets" / "synthetic_statement_female.ogg", "prosody",
                              progress=lambda fraction, text: steps.append((fraction, text)))
    fractions = [fraction for fraction, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and all(text for _, text in steps)
    assert result.panels == ("spectrogram", "mfcc", "lsf", "f0", "centroid", "contrast")
    assert result.probabilities["deceptive"] == pytest.approx(result.analysis.p_deceptive)
    assert f"Verdict: {result.analysis.verdict}" in result.verdict_markdown


def test_limits_panel_reads_the_card():
    import json

    from deceptio.serving.page import limits_summary

    card = json.loads((REPO / "weights" / "ensemble.json").read_text())
    text = limits_summary(card)
    assert text.startswith("### What this model can and cannot tell")
    assert f"{card['cv']['auc']['mean']:.2f}" in text
    assert f"{card['cv']['auc_female_without_dominant']['mean']:.2f}" in text and card["protocol"]["dominant_speaker"] in text
    assert f"{card['baselines']['channel_only']['auc']['mean']:.2f}" in text
    # A better-than-the-room model is told apart from one that is not.
    better = {**card, "cv": {**card["cv"], "auc_channel_subset": {"mean": card["baselines"]["channel_only"]["auc"]["mean"] + 0.2}}}
    assert "better than the room alone" in limits_summary(better) and "no better" not in limits_summary(better)
    assert limits_summary({"variant": "x"}) == ""
