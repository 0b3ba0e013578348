"""End to end on synthetic data: train → weights and cards → Detector → CLI."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO, synthetic_speech
from deceptio.synthetic import synthetic_corpus
from deceptio.cli import main
from deceptio.serving.detector import Detector

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    data = synthetic_corpus(root / "data").parent
    weights = root / "weights"
    code = main([
        "train", "--data", str(data / "manifest.csv"), "--out", str(weights), "--folds", "2", "--repeats", "1",
        "--report-dir", str(root / "reports"), "--cache-dir", str(root / "cache"),
        "--set", "train.epochs=1", "model.width=4",
    ])
    assert code == 0
    return root, weights


def test_train_writes_weights_cards_and_report(trained):
    root, weights = trained
    for name in ("spec_mfcc", "lsf_lpc", "spec_prosody", "prosody"):
        card = json.loads((weights / f"{name}.json").read_text())
        assert (weights / card["file"]).stat().st_size < 12e6
        assert card["calibration"]["temperature"] > 0 and card["input"]["features"]["hop_length"] == 160
        assert card["input"]["window"] == {"window_frames": 400, "hop_frames": 200} and card["input"]["rows"] > 0
        for key in ("auc", "auc_female", "accuracy"):
            assert set(card["cv"][key]) >= {"mean", "std"}
        assert "ece" in card["cv"]
        for baseline in ("majority", "gender_pitch", "mfcc_logreg"):
            assert "mean" in card["baselines"][baseline]["auc"]
        for key in ("auc_female_without_dominant", "auc_within_speaker", "gender_balanced_auc"):
            assert set(card["cv"][key]) >= {"mean", "std"}
        assert 0 <= card["cv"]["auc_label_gender"] <= 1 and 0 <= card["cv"]["auc_score_gender"] <= 1
        assert "mean" in card["baselines"]["channel_only"]["auc"]
    ensemble = json.loads((weights / "ensemble.json").read_text())
    assert ensemble["members"] == ["spec_mfcc", "lsf_lpc", "spec_prosody", "prosody"]
    report = json.loads((root / "reports" / "cv_report.json").read_text())
    for figure in ("score_distributions.png", "speaker_scores.png", "reliability.png", "saliency.png"):
        assert (root / "reports" / figure).stat().st_size > 5000
    assert set(report["methods"]) >= {"ensemble", "majority", "gender_pitch", "mfcc_logreg"}
    assert report["methods"]["majority"]["metrics"]["auc"]["mean"] == pytest.approx(0.5)


def test_second_run_reuses_the_cache(trained, capsys):
    root, _ = trained
    cached = {path: path.stat().st_mtime_ns for path in (root / "cache").rglob("*") if path.is_file()}
    assert any(path.parent.name == "cv" for path in cached) and any(path.parent.name == "features" for path in cached)
    code = main([
        "evaluate", "--data", str(root / "data" / "manifest.csv"), "--folds", "2", "--repeats", "1", "--report-dir", str(root / "r2"),
        "--cache-dir", str(root / "cache"), "--set", "train.epochs=1", "model.width=4",
    ])
    assert code == 0
    # Nothing was extracted or trained again: the cache holds exactly the same files, untouched.
    assert {path: path.stat().st_mtime_ns for path in (root / "cache").rglob("*") if path.is_file()} == cached
    assert "mfcc_logreg" in capsys.readouterr().out


def test_detector_gives_a_verdict_and_a_timeline(trained, tmp_path):
    _, weights = trained
    path = tmp_path / "story.wav"
    sf.write(path, synthetic_speech(20.0, f0=150, seed=99), 16000)
    detector = Detector(weights)
    for variant in detector.variants:
        analysis = detector.analyze(path, variant=variant)
        assert analysis.verdict in ("truthful", "deceptive", "inconclusive")
        assert 0.0 <= analysis.p_deceptive <= 1.0
        assert len(analysis.windows) >= 5
        starts = [w.start for w in analysis.windows]
        assert starts == sorted(starts) and analysis.windows[-1].end <= 20.01
    assert set(detector.analyze(path).members) == {"spec_mfcc", "lsf_lpc", "spec_prosody", "prosody"}


def test_cli_json_is_one_object(trained, tmp_path):
    _, weights = trained
    path = tmp_path / "story.wav"
    sf.write(path, synthetic_speech(8.0, seed=5), 16000)
    result = subprocess.run([sys.executable, "-m", "deceptio.cli", "analyze", str(path), "--weights", str(weights), "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert {"verdict", "p_deceptive", "variant", "windows"} <= set(payload)
    assert all(set(w) == {"start", "end", "p_deceptive"} for w in payload["windows"])


def test_evaluate_scores_trained_weights_on_another_manifest(trained, capsys):
    root, weights = trained
    code = main([
        "evaluate", "--weights", str(weights), "--data", str(root / "data" / "manifest.csv"), "--folds", "2",
        "--repeats", "1", "--report-dir", str(root / "cross"), "--cache-dir", str(root / "cache"),
    ])
    assert code == 0
    assert "scored as shipped" in capsys.readouterr().out
    report = json.loads((root / "cross" / "cv_report.json").read_text())
    assert report["protocol"]["weights"] == str(weights)
    assert set(report["methods"]) >= {"ensemble", "spec_mfcc", "mfcc_logreg", "gender_pitch"}
    assert len(report["out_of_fold"]["probabilities"]["ensemble"][0]) == 16


def test_rows_made_elsewhere_join_the_report_only_in_the_same_folds(trained):
    from deceptio.training.data import load_manifest
    from deceptio.training.cv import CVConfig, fold_assignments_sha256, make_folds

    root, _ = trained
    clips = load_manifest(root / "data" / "manifest.csv")
    labels = np.array([c.label for c in clips])
    folds = make_folds(labels, np.array([c.speaker for c in clips]), CVConfig(folds=2, repeats=1))
    extra = root / "r4" / "extra"
    extra.mkdir(parents=True)
    row = {"name": "oracle", "kind": "baseline", "clip_ids": [c.id for c in clips],
           "fold_assignments_sha256": fold_assignments_sha256(folds), "probabilities": [labels.tolist()]}
    (extra / "oracle.json").write_text(json.dumps(row))
    (extra / "stale.json").write_text(json.dumps({**row, "name": "stale", "fold_assignments_sha256": "0" * 64}))
    args = ["evaluate", "--data", str(root / "data" / "manifest.csv"), "--folds", "2", "--repeats", "1",
            "--report-dir", str(root / "r4"), "--cache-dir", str(root / "cache"), "--set", "train.epochs=1", "model.width=4"]
    assert main(args) == 0  # files beside the report are not read unless named
    assert "oracle" not in json.loads((root / "r4" / "cv_report.json").read_text())["methods"]
    with pytest.warns(UserWarning, match="stale"):
        assert main([*args, "--extra-rows", str(extra / "oracle.json"), str(extra / "stale.json")]) == 0
    report = json.loads((root / "r4" / "cv_report.json").read_text())
    assert report["methods"]["oracle"]["metrics"]["auc"]["mean"] == 1.0
    assert "stale" not in report["methods"]


def test_update_cards_takes_new_rows_into_the_cards_and_leaves_the_weights_alone(trained):
    import shutil

    root, weights = trained
    copy = root / "weights_copy"
    shutil.copytree(weights, copy)
    before = {path.name: path.read_bytes() for path in copy.glob("*.safetensors")}
    old_card = json.loads((copy / "prosody.json").read_text())
    extra = root / "r5" / "extra"
    shutil.copytree(root / "r4" / "extra", extra)
    (extra / "stale.json").unlink()
    args = ["evaluate", "--data", str(root / "data" / "manifest.csv"), "--folds", "2", "--repeats", "1",
            "--report-dir", str(root / "r5"), "--cache-dir", str(root / "cache"), "--extra-rows", str(extra / "oracle.json"),
            "--set", "train.epochs=1", "model.width=4"]
    assert main([*args, "--update-cards", str(copy)]) == 0
    card = json.loads((copy / "prosody.json").read_text())
    assert card["baselines"]["oracle"]["auc"]["mean"] == 1.0 and "oracle" not in old_card["baselines"]
    assert card["protocol"]["configurations_tried"] == 1 and card["protocol"]["selection"] == "fixed in advance"
    assert card["sha256"] == old_card["sha256"] and card["calibration"] == old_card["calibration"]
    assert {path.name: path.read_bytes() for path in copy.glob("*.safetensors")} == before
    assert "oracle" in json.loads((copy / "ensemble.json").read_text())["baselines"]
    # Figures of another recipe are refused, and nothing is written.
    cards = {path.name: path.read_text() for path in copy.glob("*.json")}
    assert main([*args[:-2], "train.epochs=2", "model.width=4", "--update-cards", str(copy)]) == 2
    assert {path.name: path.read_text() for path in copy.glob("*.json")} == cards


def test_screening_sets_the_count_of_configurations_tried_only_for_its_own_configuration():
    from deceptio.training.cv import screening_protocol
    from deceptio.modeling.models import ModelConfig
    from deceptio.training.train import TrainConfig

    screening = {"variant": "spec_prosody", "repeats": 2, "configurations_tried": 4,
                 "rows": {"fixed": {"model": {}, "train": {}}, "mixup": {"model": {}, "train": {"mixup": 0.4}},
                          "wide": {"model": {"width": 32}, "train": {}}, "long": {"model": {}, "train": {}, "window": {"window_frames": 800}}}}
    assert screening_protocol(None, ModelConfig(), TrainConfig()) == {"configurations_tried": 1, "selection": "fixed in advance"}
    kept = screening_protocol(screening, ModelConfig(), TrainConfig())
    assert kept["configurations_tried"] == 4 and "3 other configuration(s) screened" in kept["selection"] and "none adopted" in kept["selection"]
    # A report of another configuration than the screening's fixed one does not borrow its count...
    assert screening_protocol(screening, ModelConfig(width=32), TrainConfig())["configurations_tried"] == 1
    # ...unless the screening says that configuration was adopted: then the report says it was selected.
    adopted = screening_protocol({**screening, "adopted": "wide"}, ModelConfig(width=32), TrainConfig())
    assert adopted["configurations_tried"] == 4 and "optimistic" in adopted["selection"]
    # A window is a configuration like any other: the screening's adopted 8 s window counts too.
    from deceptio.modeling.card import ModelInput
    from deceptio.modeling.images import WindowConfig

    long = ModelInput(window=WindowConfig(window_frames=800))
    assert screening_protocol(screening, ModelConfig(), TrainConfig(), long)["configurations_tried"] == 1
    assert screening_protocol({**screening, "adopted": "long"}, ModelConfig(), TrainConfig(), long)["configurations_tried"] == 4


@pytest.mark.timeout(900)  # about 2 minutes here: 80 small fits, the same run from the cache, then a release
def test_nested_evaluation_picks_per_outer_fold_and_resumes_from_the_fold_cache(trained, capsys, tiny_emodb, monkeypatch):
    from deceptio.modeling.card import ModelInput
    from deceptio.modeling.models import ModelConfig
    from deceptio.training.nested import GRID
    from deceptio.training.train import TrainConfig

    root, _ = trained
    monkeypatch.setenv("DECEPTIO_EMODB", str(tiny_emodb))  # the pretraining configuration's related task, small
    args = ["evaluate", "--nested", "--data", str(root / "data" / "manifest.csv"), "--folds", "2", "--repeats", "1",
            "--inner-folds", "2", "--cache-dir", str(root / "cache"), "--set", "train.epochs=1", "model.width=4"]
    assert main([*args, "--report-dir", str(root / "n1")]) == 0
    report = json.loads((root / "n1" / "cv_report.json").read_text())
    protocol = report["protocol"]
    assert protocol["configurations_tried"] == len(GRID) and set(protocol["grid"]) == {c.name for c in GRID}
    assert "nested" in protocol["selection"]
    for name in ("spec_mfcc", "lsf_lpc", "spec_prosody", "prosody"):
        assert len(protocol["picks"][name]) == 1 and len(protocol["picks"][name][0]) == 2  # one pick per outer fold
        assert sum(report["methods"][name]["picked"].values()) == 2
    assert set(report["methods"]) >= {"ensemble", "majority", "gender_pitch", "mfcc_logreg"}  # baselines, same folds
    fits = protocol["fits"]
    # Per variant: 2 outer folds x (the configurations x 2 inner folds + 1 refit), and the inner CV on all clips.
    assert fits["done"] + fits["cached"] == 4 * (2 * (len(GRID) * 2 + 1) + len(GRID) * 2)
    for name in ("spec_mfcc", "lsf_lpc", "spec_prosody", "prosody"):
        shipped = protocol["shipped"][name]
        scores = shipped["inner_gender_balanced_auc"]
        assert set(scores) == set(protocol["grid"]) and all(0 <= v <= 1 for v in scores.values())
        gender = shipped["inner_score_gender_auc"]  # what each configuration's scores say of gender, same inner folds
        assert set(gender) == set(protocol["grid"]) and all(0 <= v <= 1 for v in gender.values())
        assert shipped["configuration"] == max(protocol["grid"], key=lambda c: scores[c])
    assert protocol["shipped"]["ensemble"] == {"members": ["spec_mfcc", "lsf_lpc", "spec_prosody", "prosody"]}
    # A refit of the shipped 4 s configuration is the plain evaluation's fit of that fold: already in the cache.
    models = ("spec_mfcc", "lsf_lpc", "spec_prosody", "prosody")
    assert fits["cached"] == sum(report["methods"][name]["picked"]["w4"] for name in models)
    out = capsys.readouterr().out
    assert "Grid (fixed in advance" in out and "Fits:" in out and "What a release ships" in out
    pretraining = [c.name for c in GRID if c.train.get("pretrain_epochs")]
    for name in models:  # the related task's AUC, for each configuration that pretrains on it
        assert set(report["methods"][name]["arousal_auc"]) == set(pretraining)
    assert "The related task, EmoDB arousal" in out and "scores for the subject's gender" in out
    # The raw out-of-fold logits are kept: divided by each outer model's temperature (fitted on the inner CV of the
    # configuration it refits) they give the report's probabilities, and benchmarks/calibration_methods.py's
    # inner-temperature row is the report's ECE.
    from deceptio.training.cv import CVConfig, make_folds

    oof = report["out_of_fold"]
    labels = np.array(oof["labels"])
    fold_of = make_folds(labels, np.array(oof["speakers"]), CVConfig(folds=2, repeats=1))[0]
    spec = importlib.util.spec_from_file_location("calibration_methods", REPO / "benchmarks" / "calibration_methods.py")
    calibration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calibration)
    rows = calibration.measure(report)
    for name in models:
        temperatures = np.array(report["methods"][name]["outer_temperatures"][0])
        assert temperatures.shape == (2,) and (temperatures > 0).all()
        again_p = 1 / (1 + np.exp(-np.array(oof["logits"][name][0]) / temperatures[fold_of]))
        np.testing.assert_allclose(again_p, oof["probabilities"][name][0], atol=1e-3)
        assert rows[name]["inner temperature"]["ece"] == pytest.approx(report["methods"][name]["metrics"]["ece"]["mean"], abs=1e-3)
        assert all(0 <= rows[name][m]["ece"] <= 1 for m in (*calibration.METHODS, "if exact"))
    # Run again: everything comes from the fold cache, and the figures are the same.
    assert main([*args, "--report-dir", str(root / "n2")]) == 0
    again = json.loads((root / "n2" / "cv_report.json").read_text())
    assert again["protocol"]["fits"]["done"] == 0
    assert again["methods"]["ensemble"]["metrics"]["auc"] == report["methods"]["ensemble"]["metrics"]["auc"]
    assert main([*args, "--report-dir", str(root / "n3"), "--update-cards", str(root / "weights")]) == 2
    # A part of the grid (--grid): its inner fits are the full grid's, from the cache; only refits of a pick the
    # full grid did not make are new (at most one per outer fold and variant).
    assert main([*args, "--grid", "w4", "whole", "--report-dir", str(root / "n5")]) == 0
    part = json.loads((root / "n5" / "cv_report.json").read_text())["protocol"]
    assert set(part["grid"]) == {"w4", "whole"} and part["configurations_tried"] == 2
    assert part["fits"]["done"] <= 4 * 2 and part["fits"]["done"] + part["fits"]["cached"] == 4 * (2 * (2 * 2 + 1) + 2 * 2)
    # `deceptio train --nested`: every nested fit from the cache, then each variant fitted on all clips with
    # the configuration its inner CV on all clips picked; the cards say which, and serve as an ensemble.
    capsys.readouterr()
    out_dir = root / "nested-weights"
    train = ["train", *args[2:], "--nested", "--report-dir", str(root / "n4"), "--out", str(out_dir)]
    assert main(train) == 0
    shipped_report = json.loads((root / "n4" / "cv_report.json").read_text())
    assert shipped_report["protocol"]["fits"]["done"] == 0
    printed = capsys.readouterr().out
    windows = {c.name: c.apply(ModelConfig(width=4), TrainConfig(epochs=1), ModelInput())[2].window for c in GRID}
    for name in models:
        card = json.loads((out_dir / f"{name}.json").read_text())
        picked = protocol["shipped"][name]["configuration"]
        assert card["protocol"]["configuration"]["name"] == picked
        assert card["protocol"]["configuration"]["picked_per_outer_fold"] == report["methods"][name]["picked"]
        assert card["input"]["window"] == windows[picked].to_dict()
        assert (out_dir / f"{name}.onnx").is_file() and card["cv"]["auc"] == {
            k: shipped_report["methods"][name]["metrics"]["auc"][k] for k in ("mean", "std", "ci95")}
        assert f"{name}: ships {picked}, the configuration its inner CV on all clips picked" in printed
    analysis = Detector(out_dir).analyze((16000, synthetic_speech(20.0)), variant="ensemble")
    assert set(analysis.members) == set(models) and analysis.windows
