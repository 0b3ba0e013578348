"""End to end on synthetic data: train → weights and cards → Detector → CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import synthetic_speech
from deceptio.cli import main
from deceptio.inference import Detector

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    data = root / "data"
    for s in range(8):
        label = "deceptive" if s % 2 else "truthful"
        folder = data / label / f"speaker{s}"
        folder.mkdir(parents=True)
        for c in range(2):
            y = synthetic_speech(6.0, f0=110 + 15 * s, seed=10 * s + c)
            sf.write(folder / f"clip{s}_{c}.wav", y, 16000)
    weights = root / "weights"
    code = main([
        "train", "--data", str(data), "--out", str(weights), "--folds", "2", "--repeats", "1",
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
        assert card["temperature"] > 0 and card["feature_config"]["hop_length"] == 160
        for key in ("auc", "auc_female", "accuracy"):
            assert set(card["cv"][key]) >= {"mean", "std"}
        assert "ece" in card["cv"]
        for baseline in ("majority", "gender_pitch", "mfcc_logreg"):
            assert "mean" in card["baselines"][baseline]["auc"]
    ensemble = json.loads((weights / "ensemble.json").read_text())
    assert ensemble["members"] == ["spec_mfcc", "lsf_lpc", "spec_prosody", "prosody"]
    report = json.loads((root / "reports" / "cv_report.json").read_text())
    assert set(report["methods"]) >= {"ensemble", "majority", "gender_pitch", "mfcc_logreg"}
    assert report["methods"]["majority"]["metrics"]["auc"]["mean"] == pytest.approx(0.5)


def test_second_run_reuses_the_cache(trained, capsys):
    root, _ = trained
    import time

    start = time.perf_counter()
    code = main([
        "evaluate", "--data", str(root / "data"), "--folds", "2", "--repeats", "1", "--report-dir", str(root / "r2"),
        "--cache-dir", str(root / "cache"), "--set", "train.epochs=1", "model.width=4",
    ])
    assert code == 0 and time.perf_counter() - start < 15
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
