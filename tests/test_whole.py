"""A model that reads the whole recording: attention pooling over time, scored in one pass, its timeline from its cells."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from scipy.special import logit

from deceptio.modeling.images import WindowConfig, stack_images
from deceptio.modeling.models import ModelConfig, as_network, create_model
from deceptio.serving.detector import Detector
from conftest import REPO, synthetic_speech


def _attention_model(width: int = 8, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = create_model(ModelConfig(width=width, pooling="attention"))
    for module in model.modules():  # trained-looking statistics and a non-uniform attention
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data.uniform_(0.5, 1.5)
            module.running_mean.uniform_(-0.2, 0.2)
    torch.nn.init.normal_(model.attention.weight, std=0.5)
    return model.eval()


def test_attention_starts_as_mean_pooling_and_its_cam_still_decomposes_the_logit():
    torch.manual_seed(1)
    mean = create_model(ModelConfig(width=8)).eval()
    fresh = create_model(ModelConfig(width=8, pooling="attention")).eval()
    missing = fresh.load_state_dict(mean.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["attention.bias", "attention.weight"]  # zero-initialised: uniform weights
    x = torch.randn(2, 1, 40, 1000)
    with torch.inference_mode():
        np.testing.assert_allclose(fresh(x).numpy(), mean(x).numpy(), atol=1e-5)
    model = _attention_model()
    with torch.inference_mode():
        weights = model.time_weights(model.features(x))
        np.testing.assert_allclose(weights.sum(dim=-1).numpy(), 1.0, atol=1e-6)
        assert float(weights.std()) > 1e-3  # not uniform any more
        logits, cam = model.forward_cam(x)
        np.testing.assert_allclose((cam.mean(dim=(1, 2)) + model.fc[-1].bias[0]).numpy(), logits.numpy(), atol=1e-5)
        np.testing.assert_allclose(logits.numpy(), model(x).numpy(), atol=1e-5)


def test_window_settings_of_a_whole_recording_model():
    assert WindowConfig().to_dict() == {"window_frames": 400, "hop_frames": 200}  # cards and cache keys unchanged
    whole = WindowConfig(window_frames=1200, hop_frames=1200, whole=True)
    assert whole.scoring(5000) == (5000, 5000) and whole.scoring(300) == (1200, 1200)  # short ones wrap
    assert WindowConfig.from_dict(whole.to_dict()) == whole and WindowConfig().scoring(5000) == (400, 200)
    assert ModelConfig().to_dict() == ModelConfig.from_dict(ModelConfig().to_dict()).to_dict()
    assert "pooling" not in ModelConfig().to_dict() and ModelConfig(pooling="attention").to_dict()["pooling"] == "attention"


@pytest.fixture(scope="module")
def whole_weights(tmp_path_factory):
    """The shipped weights, with prosody replaced by an attention-pooled model that reads whole recordings."""
    from deceptio.modeling.weights import save_variant

    folder = tmp_path_factory.mktemp("whole")
    for path in (REPO / "weights").iterdir():
        if path.is_file():
            shutil.copy(path, folder / path.name)
    card = json.loads((folder / "prosody.json").read_text())
    card["input"]["window"] = {"window_frames": 1200, "hop_frames": 1200, "whole": True}
    model = _attention_model(width=ModelConfig.from_dict(card["model_config"]).width)
    for key in ("file", "sha256", "onnx", "parameters", "model_config"):
        card.pop(key, None)
    save_variant(model, card, folder)
    return folder, model


def test_a_whole_recording_model_scores_once_and_its_stretches_average_to_its_score(whole_weights):
    folder, model = whole_weights
    detector = Detector(folder, variants=("prosody",))
    temperature = detector.calibration("prosody").temperature
    analysis = detector.analyze((16000, synthetic_speech(40.0)), variant="prosody")
    image = stack_images(analysis.images, detector.model_input("prosody").layout)
    one_pass, _ = as_network(model)(image[None, None])  # the torch model on the whole image, in one window
    assert analysis.p_deceptive == pytest.approx(float(1 / (1 + np.exp(-one_pass[0] / temperature))), abs=1e-5)
    # The timeline: one bar per last-stage time cell (64 frames), covering the speech; their logits average to the score's.
    stretches = np.array([w.p_deceptive for w in analysis.windows])
    assert len(stretches) == -(-image.shape[1] // 64)
    assert np.mean(logit(stretches)) * temperature == pytest.approx(logit(analysis.p_deceptive) * temperature, abs=1e-4)
    assert np.ptp(stretches) > 0
    from deceptio.serving.interactive import describe_timeline
    from deceptio.serving.figure_data import timeline_view

    window = detector.model_input("prosody").window
    text = describe_timeline(analysis, config=detector.feature_config, window=window)
    assert f"attention-weighted shares of {len(stretches)} stretches" in text and "window" not in text.split(".")[0]
    assert "one score of the whole recording" in timeline_view(analysis, config=detector.feature_config, window=window).header


def test_an_ensemble_with_a_whole_recording_member_shows_its_stretches(whole_weights):
    folder, _ = whole_weights
    detector = Detector(folder)
    audio = (16000, synthetic_speech(30.0))
    analysis = detector.analyze(audio, variant="ensemble")
    single = detector.analyze(audio, variant="prosody")
    assert detector.model_input("ensemble").window.whole
    assert len(analysis.windows) == len(single.windows) and analysis.members["prosody"] == pytest.approx(single.p_deceptive)
    from deceptio.serving.figure_data import timeline_view

    header = timeline_view(analysis, config=detector.feature_config, window=detector.model_input("ensemble").window).header
    assert "one score of the whole recording" in header and "other members' nearest windows" in header
    maps = detector.saliency(single)["prosody"]
    assert maps.shape[1] == single.frames.size and np.isfinite(maps).all()


def test_training_a_whole_recording_model_with_the_adversaries():
    from deceptio.training.train import TrainConfig, fit

    rng = np.random.default_rng(0)
    images = [rng.normal(size=(8, n)).astype(np.float32) for n in (500, 900, 300, 700)]
    model = fit(images, np.array([0, 1, 0, 1]), ["F", "M", "M", "F"], speakers=list("abcd"),
                model_config=ModelConfig(width=4, pooling="attention"),
                train_config=TrainConfig(epochs=2, time_mask=10, adversary=0.5),
                window=WindowConfig(window_frames=600, hop_frames=600, whole=True))
    assert model.attention is not None and float(model.attention.weight.detach().abs().sum()) > 0  # attention was trained


def test_a_nested_card_of_a_whole_recording_model_says_what_it_reads(whole_weights):
    from deceptio.serving.wording import card_summary

    folder, _ = whole_weights
    card = json.loads((folder / "prosody.json").read_text())
    card["protocol"] = {**card.get("protocol", {}), "selection": "nested: an inner CV picks",
                        "configuration": {"name": "whole", "description": "the whole recording at once"}}
    text = card_summary(card)
    assert "reads the whole recording at once" in text and "trained on 12 s crops" in text and "s windows, hop" not in text
