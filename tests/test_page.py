"""What the page says about a result: the verdict line, the card's figures beside the baselines, progress."""

from __future__ import annotations

import json

import pytest

from conftest import REPO, WEIGHTS
from deceptio.serving.detector import Analysis, Detector, WindowPrediction
from deceptio.features.profile import VoiceProfile
from deceptio.serving.page import (
    CAVEAT,
    RecordingCache,
    analyze_for_page,
    card_summary,
    limits_summary,
    variant_choices,
    variant_description,
    verdict_summary,
)
from deceptio.serving.wording import BASELINE_NAMES, recording_notes, standing, training_line
from deceptio.modeling.variants import VARIANTS


def _card(auc: float, auc_sd: float, gender: float, mfcc: float | None = None) -> dict:
    figure = lambda mean, sd=0.02: {"mean": mean, "std": sd, "ci95": [mean - 0.1, mean + 0.1]}
    baselines = {"gender_pitch": {"auc": figure(gender), "accuracy": figure(0.58)},
                 "majority": {"auc": figure(0.5, 0.0), "accuracy": figure(0.55, 0.0)}}
    if mfcc is not None:
        baselines["mfcc_logreg"] = {"auc": figure(mfcc), "accuracy": figure(0.6)}
    return {
        "variant": "lsf_lpc",
        "cv": {"auc": figure(auc, auc_sd), "accuracy": figure(0.6)},
        "baselines": baselines,
        "protocol": {"folds": 5, "repeats": 5, "grouped_by": "speaker"},
        "training_data": {"n_clips": 121, "n_speakers": 56, "material": "courtroom testimony", "language": "English"},
    }


def _analysis(p: float = 0.734, *, verdict: str = "deceptive", speech_s: float = 9.5) -> Analysis:
    return Analysis(verdict=verdict, p_deceptive=p, variant="ensemble", band=0.1, duration_s=12.0,
                    speech_s=speech_s, windows=(WindowPrediction(0, 4, 0.7), WindowPrediction(2, 6, 0.8)),
                    members={"spec_mfcc": 0.7, "prosody": 0.77})


def _shipped_cards() -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(WEIGHTS.glob("*.json"))]


def test_card_summary_puts_auc_beside_the_baselines_with_spread_and_speaker_interval():
    text = card_summary(_card(0.71, 0.04, 0.6, mfcc=0.64))
    assert "| **lsf_lpc** | **0.71 ± 0.04** | 0.61–0.81 |" in text
    assert "guessing gender from pitch (baseline) | 0.60 ± 0.02 | 0.50–0.70" in text
    assert "averaged MFCCs (baseline) | 0.64 ± 0.02" in text
    assert "always answering the more common label (baseline) | 0.50 ± 0.00 | 0.40–0.60 | 0.55 ± 0.00" in text
    assert "5-fold cross-validation × 5 repeats on 121 clips of 56 speakers" in text
    assert "the 95 % interval resamples speakers" in text
    assert "beats chance and every baseline" in text and "by 0.07 AUC" in text and CAVEAT in text


def test_card_summary_names_what_the_model_learnt_from():
    text = card_summary(_card(0.71, 0.04, 0.6))
    assert "**Learnt from:** 121 clips of courtroom testimony, 56 speakers, English" in text
    for card in _shipped_cards():
        line = training_line(card)
        assert "courtroom testimony" in line and "English" in line and f"{card['training_data']['n_speakers']} speakers" in line


@pytest.mark.parametrize("auc, sd, gender", [(0.55, 0.1, 0.4), (0.53, 0.01, 0.45)])
def test_card_summary_says_plainly_when_a_model_does_not_beat_chance(auc, sd, gender):
    text = card_summary(_card(auc, sd, gender))
    assert "does not clearly beat chance" in text and "beats chance" not in text and CAVEAT in text


@pytest.mark.parametrize("auc, sd, gender", [(0.62, 0.05, 0.61), (0.70, 0.02, 0.66)])
def test_card_summary_says_when_a_model_is_only_level_with_the_pitch_guess(auc, sd, gender):
    text = card_summary(_card(auc, sd, gender))
    assert "about as well as guessing gender from pitch" in text and f"({gender:.2f})" in text
    assert "may be gender, not deception" in text and "beats chance and" not in text


# Hand-made cards on both sides of every baseline, and the shipped ones.
_GRID = [(auc, gender, mfcc) for auc in (0.45, 0.55, 0.62, 0.67, 0.70, 0.80) for gender in (0.5, 0.6, 0.685)
         for mfcc in (None, 0.66, 0.75)]


@pytest.mark.parametrize("card", [_card(a, 0.02, g, m) for a, g, m in _GRID] + _shipped_cards(),
                         ids=[f"auc{a}-pitch{g}-mfcc{m}" for a, g, m in _GRID] + [p.stem for p in sorted(WEIGHTS.glob("*.json"))])
def test_the_page_never_calls_a_model_better_than_a_baseline_it_scores_below(card):
    auc = card["cv"]["auc"]["mean"]
    baselines = [row["auc"]["mean"] for name, row in card["baselines"].items() if name in BASELINE_NAMES]
    below = any(auc < value for value in baselines)
    texts = [card_summary(card), limits_summary(card), verdict_summary(_analysis(), card)]
    if below:
        for text in texts:
            assert "better" not in text.lower(), text
        assert "does worse" in texts[0] and texts[2].startswith("## Lean: deceptive — not a verdict")
        assert standing(card).kind == "below baseline"
    elif standing(card).kind == "ahead":
        assert texts[2].startswith("## Verdict: deceptive")


def test_every_shipped_variant_gives_a_lean_not_a_verdict_while_it_trails_a_baseline():
    names = {"gender_pitch": "guessing gender from pitch", "mfcc_logreg": "logistic regression"}
    for card in _shipped_cards():
        text = verdict_summary(_analysis(), card)
        assert text.startswith("## Lean: deceptive — not a verdict"), card["variant"]
        assert "does worse" in text and "Verdict:" not in text
        above = [key for key in names if card["baselines"][key]["auc"]["mean"] > card["cv"]["auc"]["mean"]]
        assert above, card["variant"]  # the shipped cards all trail one (the README says which)
        for key in names:  # it names exactly the baselines it trails
            assert (names[key] in text) == (key in above), (card["variant"], key)


def test_a_card_without_figures_says_nothing_supports_it():
    text = card_summary({"variant": "prosody"})
    assert "no cross-validated figures" in text and CAVEAT in text
    assert verdict_summary(_analysis(), {"variant": "prosody"}).startswith("## Lean: deceptive — not a verdict")


def test_verdict_summary_names_verdict_probability_band_and_members():
    text = verdict_summary(_analysis(), _card(0.80, 0.02, 0.6, mfcc=0.66))
    assert text.startswith("## Verdict: deceptive")
    assert "**0.73**" in text and "between 0.40 and 0.60" in text and "spec_mfcc 0.70" in text and "2 windows" in text
    lean = verdict_summary(_analysis(0.45, verdict="inconclusive"), _card(0.6, 0.02, 0.68))
    assert lean.startswith("## Lean: inconclusive — not a verdict") and "leans neither way" in lean


def test_recordings_unlike_the_training_clips_carry_a_note():
    card = _shipped_cards()[0]
    ranges = card["training_data"]["profile"]
    usual = VoiceProfile(speech_s=15.0, median_f0_hz=ranges["median_f0_hz"]["median"], f0_range_st=6.0, voiced_ratio=0.5,
                         pause_ratio=0.2, level_db=ranges["level_db"]["median"], alpha_ratio_db=-15.0)
    assert recording_notes(_analysis(speech_s=15.0), usual, card) == []
    assert "Unlike the training data" not in verdict_summary(_analysis(speech_s=15.0), card, usual)
    short = recording_notes(_analysis(speech_s=ranges["speech_s"]["low"] / 2), usual, card)
    assert len(short) == 1 and short[0].startswith("Only")
    high = VoiceProfile(**{**usual.__dict__, "median_f0_hz": ranges["median_f0_hz"]["high"] + 80})
    notes = recording_notes(_analysis(speech_s=15.0), high, card)
    assert len(notes) == 1 and "median pitch" in notes[0]
    quiet = VoiceProfile(**{**usual.__dict__, "level_db": ranges["level_db"]["low"] - 20})
    assert "quieter or louder" in " ".join(recording_notes(_analysis(speech_s=15.0), quiet, card))
    assert "> **Unlike the training data:**" in verdict_summary(_analysis(speech_s=15.0), card, high)


def test_variant_descriptions_are_the_registry_lines():
    for name, variant in VARIANTS.items():
        assert variant.description in variant_description(name) and name in variant_description(name)


def test_variant_choices_show_a_readable_name_beside_the_code_name():
    detector = Detector(WEIGHTS)
    choices = variant_choices(detector)
    assert [value for _, value in choices][0] == "ensemble"
    for label, value in choices:
        assert label == f"{VARIANTS[value].title} ({value})" and VARIANTS[value].title != value
    # The ensemble is listed first, so its description must not point "above".
    assert "above" not in VARIANTS["ensemble"].description and all(m in VARIANTS["ensemble"].description
                                                                   for m in VARIANTS["ensemble"].members)


def test_analyze_for_page_reports_progress_and_shows_the_variants_panels():
    detector = Detector(WEIGHTS, variants=("prosody",))
    assert [value for _, value in variant_choices(detector)] == ["prosody"]
    steps = []
    result = analyze_for_page(detector, REPO / "assets" / "synthetic_statement_female.ogg", "prosody",
                              progress=lambda fraction, text: steps.append((fraction, text)))
    fractions = [fraction for fraction, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] < 1.0 and all(text for _, text in steps)
    assert "done" not in " ".join(text for _, text in steps)  # nothing says done before the page shows it
    assert result.panels == ("spectrogram", "mfcc", "lsf", "f0", "centroid", "contrast")
    assert result.probabilities["deceptive"] == pytest.approx(result.analysis.p_deceptive)
    assert f"Lean: {result.analysis.verdict}" in result.verdict_markdown


def test_another_variant_of_the_same_recording_rescores_without_recomputing_features(monkeypatch, tmp_path):
    detector = Detector(WEIGHTS, variants=("prosody", "spec_mfcc"))
    source = tmp_path / "statement.ogg"
    source.write_bytes((REPO / "assets" / "synthetic_statement_female.ogg").read_bytes())
    computed = []
    original = Detector.prepare_features
    monkeypatch.setattr(Detector, "prepare_features", lambda self, *a, **k: computed.append(1) or original(self, *a, **k))
    cache = RecordingCache(max_entries=2)
    first = analyze_for_page(detector, source, "prosody", cache=cache, session="a")
    second = analyze_for_page(detector, source, "spec_mfcc", cache=cache, session="a")
    assert len(computed) == 1 and len(cache) == 1
    assert second.analysis.p_deceptive == pytest.approx(detector.analyze(source, variant="spec_mfcc").p_deceptive, abs=1e-12)
    assert first.analysis.features is second.analysis.features
    analyze_for_page(detector, source, "spec_mfcc", cache=cache, session="b")  # another visitor: computed afresh
    assert len(computed) == 3  # (the direct analyze above was the second)
    analyze_for_page(detector, REPO / "assets" / "synthetic_story_male.flac", "prosody", cache=cache, session="a")
    assert len(cache) == 2  # bounded: the oldest entry went
    source.write_bytes((REPO / "assets" / "synthetic_story_male.flac").read_bytes())  # same path, new file
    analyze_for_page(detector, source, "prosody", cache=cache, session="a")
    assert len(computed) == 5
    tiny = RecordingCache(max_bytes=1000)
    analyze_for_page(detector, source, "prosody", cache=tiny, session="a")
    assert len(tiny) == 0  # larger than the byte bound: not kept


def test_limits_panel_reads_the_card():
    card = json.loads((REPO / "weights" / "ensemble.json").read_text())
    text = limits_summary(card)
    assert text.startswith("### What this model can and cannot tell")
    assert f"{card['cv']['auc']['mean']:.0%}" in text
    assert f"{card['cv']['auc_female_without_dominant']['mean']:.0%}" in text
    assert f"the one speaker with {card['training_data']['n_dominant']} clips ({card['protocol']['dominant_speaker']})" in text
    assert f"{card['baselines']['channel_only']['auc']['mean']:.0%}" in text
    assert "does not beat the room alone" in text
    # A model that beats the room alone is told apart from one that does not.
    beats = {**card, "cv": {**card["cv"], "auc_channel_subset": {"mean": card["baselines"]["channel_only"]["auc"]["mean"] + 0.2}}}
    assert "does beat the room alone" in limits_summary(beats) and "does not beat" not in limits_summary(beats)
    assert limits_summary({"variant": "x"}) == ""


def test_compare_for_page_puts_both_recordings_on_one_time_range_with_the_within_speaker_line(tmp_path):
    from deceptio.errors import AudioError
    from deceptio.serving.page import compare_for_page

    detector = Detector(WEIGHTS, variants=("prosody",))
    male, female = REPO / "assets" / "synthetic_story_male.flac", REPO / "assets" / "synthetic_statement_female.ogg"
    result = compare_for_page(detector, male, female, "prosody", cache=RecordingCache(), session="s")
    end = max(result.baseline.analysis.duration_s, result.statement.analysis.duration_s)
    for figure in (result.baseline.timeline_figure, result.statement.timeline_figure,
                   result.baseline.feature_figure, result.statement.feature_figure):
        assert tuple(figure.layout.xaxis.range) == (0.0, end)
    within = detector.card("prosody")["cv"]["auc_within_speaker"]
    assert f"within-speaker AUC {within['mean']:.2f}" in result.markdown and "from only 4 speakers" in result.markdown
    assert f"**{result.comparison.delta_p:+.2f}**" in result.markdown and "| median pitch (Hz) |" in result.markdown
    with pytest.raises(AudioError, match="no recording was given for the baseline"):
        compare_for_page(detector, None, female, "prosody")
    silent = tmp_path / "quiet.wav"
    import numpy as np
    import soundfile as sf
    sf.write(silent, np.zeros(16000 * 3, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match=r"the statement \(quiet.wav\)"):
        compare_for_page(detector, male, silent, "prosody")


def test_a_live_recording_collects_chunks_and_scores_the_take_so_far(tmp_path):
    import numpy as np
    import soundfile as sf

    from deceptio.errors import AudioError
    from deceptio.serving.page import LiveRecording

    detector = Detector(WEIGHTS, variants=("prosody",))
    samples, rate = sf.read(REPO / "assets" / "synthetic_statement_female.ogg", dtype="int16", always_2d=True)
    live = LiveRecording(max_s=60.0)
    assert not live.due(2.0) and live.seconds == 0.0
    statuses = []
    for start in range(0, len(samples), rate // 2):  # half-second chunks, as the page streams them
        live.add(rate, samples[start:start + rate // 2])
        if live.due(2.0):
            try:
                statuses.append(live.provisional(detector, "prosody")[1])
            except AudioError:
                pass  # too little speech yet
    assert live.updates >= 2 and "update 1" in statuses[0] and "provisional" in statuses[0]
    take = live.save(tmp_path / "take.wav")
    assert sf.info(take).duration == pytest.approx(len(samples) / rate, abs=0.01)
    final = detector.analyze(take, variant="prosody")
    assert final.p_deceptive == pytest.approx(live.provisional(detector, "prosody")[0].p_deceptive, abs=2e-3)
    with pytest.raises(AudioError, match="sample rate"):
        live.add(rate // 2, samples[:100])
    with pytest.raises(AudioError, match="limit"):
        LiveRecording(max_s=1.0).add(rate, np.zeros((rate * 2, 1), dtype=np.int16))
    with pytest.raises(AudioError, match="empty"):
        LiveRecording(max_s=1.0).save(tmp_path / "none.wav")


def test_the_command_line_headline_keeps_the_same_rule():
    from deceptio.serving.wording import headline

    assert headline(_analysis(), _card(0.80, 0.02, 0.6, mfcc=0.66)) == "VERDICT: DECEPTIVE"
    lean = headline(_analysis(), _card(0.6, 0.02, 0.68))
    assert lean.startswith("lean: deceptive (not a verdict: it does worse (AUC 0.60) than guessing gender from pitch")
    for card in _shipped_cards():
        assert headline(_analysis(), card).startswith("lean: ") and "better" not in headline(_analysis(), card)


def test_a_nested_card_says_the_window_was_picked_inside_the_folds_and_which_it_reads():
    cards = {card["variant"]: card for card in _shipped_cards()}
    for name, card in cards.items():
        text = card_summary(card)
        nested = card["protocol"]["selection"].startswith("nested")
        assert ("Measured by nested speaker-grouped" in text) == nested, name
        if nested and name != "ensemble":
            frames = card["input"]["window"]["window_frames"]
            assert f"this model reads {frames // 100} s windows" in text, name
    plain = dict(cards["prosody"], protocol={"folds": 5, "repeats": 5, "selection": "fixed in advance"})
    assert "nested" not in card_summary(plain) and "this model reads" not in card_summary(plain)


@pytest.mark.parametrize("adversary, pretrain", [(0.0, 0), (0.5, 0), (0.0, 6)])
def test_a_nested_card_says_how_its_window_model_was_trained(adversary, pretrain):
    card = json.loads((WEIGHTS / "spec_mfcc.json").read_text())
    card["protocol"] = {**card["protocol"], "selection": "nested: an inner CV picks", "configuration": {"name": "x"}}
    card["train_config"] = {**card["train_config"], "adversary": adversary, "pretrain_epochs": pretrain}
    text = card_summary(card)
    assert "picking the configuration in each fold" in text and "s windows, hop" in text
    assert ("trained against gender and speaker adversaries" in text) == bool(adversary)
    assert ("first trained on EmoDB arousal" in text) == bool(pretrain)
