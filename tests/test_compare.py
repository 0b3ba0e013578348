"""A statement against the speaker's own baseline: Detector.compare and what it says."""

from __future__ import annotations

import json

import pytest

from conftest import REPO, WEIGHTS
from deceptio.features.profile import PROFILE_FIELDS
from deceptio.serving.compare import FEATURE_LABELS, within_speaker_line
from deceptio.serving.detector import Detector

MALE = REPO / "assets" / "synthetic_story_male.flac"
FEMALE = REPO / "assets" / "synthetic_statement_female.ogg"


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(WEIGHTS, variants=("spec_mfcc", "prosody"))


def test_every_profile_number_has_a_label():
    assert set(FEATURE_LABELS) == set(PROFILE_FIELDS)


def test_compare_analyses_both_with_one_variant_and_gives_the_differences(detector):
    comparison = detector.compare(MALE, FEMALE, variant="prosody")
    baseline, statement = (detector.analyze(path, variant="prosody") for path in (MALE, FEMALE))
    assert comparison.baseline.p_deceptive == pytest.approx(baseline.p_deceptive, abs=1e-12)
    assert comparison.statement.p_deceptive == pytest.approx(statement.p_deceptive, abs=1e-12)
    assert comparison.delta_p == pytest.approx(statement.p_deceptive - baseline.p_deceptive)
    deltas = comparison.feature_deltas()
    assert set(deltas) == set(FEATURE_LABELS)
    for row in deltas.values():
        if row["baseline"] is not None and row["statement"] is not None:
            assert row["delta"] == pytest.approx(row["statement"] - row["baseline"], abs=2e-3)
    assert deltas["median_f0_hz"]["statement"] > 1.5 * deltas["median_f0_hz"]["baseline"]  # female over male voice
    assert deltas["speech_s"]["delta"] < 0  # the statement is the shorter one


def test_the_reading_quotes_the_within_speaker_auc_and_how_few_speakers_it_rests_on(detector):
    comparison = detector.compare(MALE, FEMALE, variant="spec_mfcc")
    within = detector.card("spec_mfcc")["cv"]["auc_within_speaker"]
    text = within_speaker_line(comparison)
    assert f"within-speaker AUC {within['mean']:.2f}" in text
    assert f"{within['n_pairs']} lie–truth pairs from only {within['n_speakers']} speakers" in text
    assert "never proof" in text and "different voices" in text  # a male and a female voice are not one speaker
    same = detector.compare(MALE, MALE, variant="spec_mfcc")
    assert same.delta_p == pytest.approx(0.0, abs=1e-12) and "about the same" in within_speaker_line(same)
    assert "different voices" not in within_speaker_line(same)


def test_the_comparison_serialises_to_json_with_both_analyses(detector):
    data = json.loads(detector.compare(MALE, FEMALE, variant="prosody").to_json())
    assert set(data) >= {"variant", "baseline", "statement", "delta_p_deceptive", "features", "within_speaker_auc", "reading"}
    assert data["baseline"]["windows"] and data["statement"]["windows"]
    assert data["within_speaker_auc"]["n_speakers"] >= 1


def test_a_card_without_a_within_speaker_figure_says_so(detector):
    comparison = detector.compare(MALE, MALE, variant="prosody")
    bare = type(comparison)(**{**comparison.__dict__, "within_speaker": {}})
    assert "no within-speaker figure" in within_speaker_line(bare)


@pytest.mark.timeout(300)
def test_deceptio_compare_json_is_detector_compare(detector):
    import subprocess
    import sys

    run = lambda *extra: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "deceptio.cli", "compare", str(MALE), str(FEMALE), "--variant", "prosody",
         "--weights", str(WEIGHTS), *extra], capture_output=True, text=True, timeout=240, cwd=REPO)
    result = run("--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(detector.compare(MALE, FEMALE, variant="prosody").to_json())
    text = run()
    assert text.returncode == 0 and "within-speaker AUC" in text.stdout and "median pitch (Hz)" in text.stdout
    bad = subprocess.run([sys.executable, "-m", "deceptio.cli", "compare", str(REPO / "README.md"), str(FEMALE)],
                         capture_output=True, text=True, timeout=240, cwd=REPO)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "README.md" in bad.stderr
