"""The notebook-recipe baseline: its picture, its network, and a smoke run of the script in deceptio's folds."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import REPO, synthetic_speech

from deceptio.training.data import load_manifest
from deceptio.errors import ParameterError
from deceptio.training.cv import CVConfig, make_folds


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location("notebook_recipe", REPO / "benchmarks" / "notebook_recipe.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_inverse_f0_of_a_harmonic_voice_is_its_period(recipe):
    sr = 16000
    t = np.arange(2 * sr) / sr
    y = sum(np.sin(2 * np.pi * k * 200.0 * t) / k for k in range(1, 10)).astype(np.float32)
    values = recipe.histogram_values(0.3 * y / np.abs(y).max(), sample_rate=sr)
    assert np.median(values["inverse_f0"]) == pytest.approx(1 / 200, rel=0.03)
    assert (values["inverse_f0"] > 0).all()
    assert values["centroid"].size > 0 and values["contrast"].size == 7 * values["centroid"].size


def test_picture_is_square_grey_in_unit_range_and_hears_pitch(recipe):
    low = recipe.histogram_image(synthetic_speech(2.0, f0=160.0, seed=1))
    high = recipe.histogram_image(synthetic_speech(2.0, f0=320.0, seed=1))
    for image in (low, high):
        assert image.shape == (224, 224) and image.dtype == np.float32
        assert 0.0 <= image.min() and image.max() == 1.0  # white background
        assert image.min() < 0.6  # bars are drawn
    # The 1/F0 panel tells an octave apart by more than it tells two takes at one pitch apart.
    low_again = recipe.histogram_image(synthetic_speech(2.0, f0=160.0, seed=2))
    top_panel = slice(0, 224 // 3)
    assert np.abs(low[top_panel] - high[top_panel]).mean() > 2 * np.abs(low[top_panel] - low_again[top_panel]).mean()


def test_subject_samples_keep_only_the_subjects_turns(recipe, tmp_path):
    sr, hop = 16000, 160
    y = np.arange(sr, dtype=np.float32)  # 1 s; sample value = its index
    turns = tmp_path / "turns.csv"
    turns.write_text("start,end,speaker,role,gender\n0.0,0.5,L,other,M\n0.5,1.0,S1,subject,F\n", encoding="utf-8")
    kept = recipe.subject_samples(y, turns, sample_rate=sr, hop_length=hop)
    assert abs(kept.size - sr // 2) <= hop
    assert kept.min() >= sr // 2 - hop and kept.max() == sr - 1
    assert np.array_equal(recipe.subject_samples(y, None, sample_rate=sr, hop_length=hop), y)


def test_network_has_one_input_channel_two_outputs_and_xavier_weights(recipe):
    torch.manual_seed(0)
    net = recipe.notebook_resnet18()
    assert net.conv1.in_channels == 1 and net.fc.out_features == 2
    with torch.no_grad():
        out = net.eval()(torch.rand(2, 1, 224, 224))
    assert out.shape == (2, 2) and torch.isfinite(out).all()
    # Xavier-uniform: std = sqrt(2 / (fan_in + fan_out)); torchvision's own
    # Kaiming init would give 0.059 for this 3×3, 64→64 convolution.
    conv = net.layer1[0].conv1.weight
    assert conv.std().item() == pytest.approx(np.sqrt(2 / (2 * 64 * 9)), rel=0.05)
    assert net.fc.weight.std().item() == pytest.approx(np.sqrt(2 / (512 + 2)), rel=0.15)


def test_limit_folds_beyond_the_folds_is_refused(recipe, tmp_path):
    with pytest.raises(ParameterError, match="limit_folds=3"):
        recipe.main(["--data", str(tmp_path / "absent.csv"), "--folds", "2", "--limit-folds", "3", "--quiet"])


def _tiny_corpus(folder: Path) -> Path:
    """6 speakers with a deceptive and a truthful clip each; odd speakers' clips carry turns."""
    sr = 16000
    (folder / "audio").mkdir()
    (folder / "turns").mkdir()
    rows = []
    for s in range(6):
        for label in ("deceptive", "truthful"):
            name = f"s{s}_{label}"
            f0 = (120.0 if s % 2 else 220.0) * (1.1 if label == "deceptive" else 1.0)
            sf.write(folder / "audio" / f"{name}.wav", synthetic_speech(1.5, f0=f0, seed=10 * s + len(label)), sr)
            turns = ""
            if s % 2:
                turns = f"turns/{name}.csv"
                (folder / turns).write_text("start,end,speaker,role,gender\n0.0,0.3,L,other,M\n0.3,1.5,S,subject,F\n", encoding="utf-8")
            rows.append({"path": f"audio/{name}.wav", "turns": turns, "label": label, "speaker": f"S{s}", "gender": "F"})
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


@pytest.mark.slow
def test_smoke_run_writes_the_report_row(recipe, tmp_path, monkeypatch):
    monkeypatch.setenv("DECEPTIO_CACHE", str(tmp_path / "cache"))
    manifest = _tiny_corpus(tmp_path)
    out = tmp_path / "extra" / "notebook_recipe.json"
    args = ["--data", str(manifest), "--repeats", "1", "--folds", "2", "--epochs", "1", "--out", str(out), "--quiet"]
    assert recipe.main(args) == 0

    row = json.loads(out.read_text(encoding="utf-8"))
    assert set(row) == {"name", "kind", "description", "clip_ids", "folds", "fold_assignments_sha256", "probabilities", "seconds"}
    assert (row["name"], row["kind"], row["description"]) == ("notebook_recipe", "baseline", recipe.DESCRIPTION)
    clips = load_manifest(manifest)
    assert row["clip_ids"] == [clip.id for clip in clips]
    assert row["folds"] == {"folds": 2, "repeats": 1, "first_seed": 0}
    folds = make_folds(np.array([c.label for c in clips]), np.array([c.speaker for c in clips]), CVConfig(folds=2, repeats=1))
    assert row["fold_assignments_sha256"] == hashlib.sha256(json.dumps([f.tolist() for f in folds]).encode()).hexdigest()
    p = np.array(row["probabilities"], dtype=np.float64)
    assert p.shape == (1, 12) and np.isfinite(p).all() and ((0 <= p) & (p <= 1)).all()
    assert row["seconds"] > 0

    # The pictures were cached, and the cached ones are the ones drawn afresh.
    cache = tmp_path / "cache" / "notebook"
    assert len(list(cache.glob("*.npz"))) == 12
    cached = recipe.clip_images(clips[:2], cache_dir=cache, progress=False)
    fresh = recipe.clip_images(clips[:2], cache_dir=None, progress=False)
    assert np.array_equal(cached, fresh)
