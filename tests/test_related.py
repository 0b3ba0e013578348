"""The related task: EmoDB arousal, a network pretrained on it, and its AUC on speakers held out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deceptio.modeling.card import ModelInput
from deceptio.modeling.images import WindowConfig
from deceptio.modeling.models import ModelConfig, create_model
from deceptio.modeling.variants import get_variant
from deceptio.training import related
from deceptio.training.train import TrainConfig, fit

SMALL = ModelConfig(width=4)
QUICK = TrainConfig(epochs=2, time_mask=10, pretrain_epochs=2)
INPUTS = ModelInput(window=WindowConfig(window_frames=150, hop_frames=75))


def test_clips_are_high_and_low_arousal_with_their_speakers(tiny_emodb, tmp_path):
    clips = related.emodb_clips(tiny_emodb)
    assert len(clips) == 16 and sum(c.label for c in clips) == 8  # "mid" left out
    assert {c.speaker for c in clips} == {"emodb-03", "emodb-08", "emodb-10", "emodb-13"}
    assert {c.gender for c in clips if c.speaker == "emodb-08"} == {"F"}
    with pytest.raises(Exception, match="EmoDB is not at"):
        related.emodb_clips(tmp_path)


def test_a_fit_starts_from_the_pretrained_body_with_a_fresh_head():
    torch.manual_seed(3)
    initial = {key: value + 1.0 if value.is_floating_point() else value for key, value in create_model(SMALL).state_dict().items()}
    rng = np.random.default_rng(0)
    images = [rng.normal(size=(8, 300)).astype(np.float32) for _ in range(4)]
    model = fit(images, np.array([0, 1, 0, 1]), ["F", "M", "F", "M"], initial_state=initial, model_config=SMALL,
                train_config=TrainConfig(epochs=1, time_mask=10, learning_rate=1e-9, weight_decay=0.0),
                window=WindowConfig(window_frames=100, hop_frames=50))
    state = model.state_dict()
    assert torch.allclose(state["conv1.weight"], initial["conv1.weight"], atol=1e-6)
    assert not torch.allclose(state["fc.1.weight"], initial["fc.1.weight"], atol=1e-3)
    with pytest.raises(Exception, match="does not fit"):
        fit(images, np.array([0, 1, 0, 1]), ["F", "M", "F", "M"], initial_state={"nonsense": torch.zeros(1)},
            model_config=SMALL, train_config=TrainConfig(epochs=1, time_mask=10), window=WindowConfig(window_frames=100))


def test_pretraining_and_the_arousal_auc_are_computed_once_and_cached(tiny_emodb, tmp_path, monkeypatch):
    variant = get_variant("prosody")
    state = related.pretrained_state(variant, model_config=SMALL, train_config=QUICK, inputs=INPUTS, cache_dir=tmp_path,
                                     root=tiny_emodb)
    assert list((tmp_path / "pretrain").glob("prosody-*.safetensors")) and "conv1.weight" in state
    auc = related.arousal_auc(variant, model_config=SMALL, train_config=QUICK, inputs=INPUTS, cache_dir=tmp_path,
                              folds=2, root=tiny_emodb)
    assert 0.0 <= auc <= 1.0
    related._pretrained.cache_clear()

    def no_training(*args, **kwargs):
        raise AssertionError("refitted what the cache holds")

    monkeypatch.setattr("deceptio.training.train.fit", no_training)
    again = related.pretrained_state(variant, model_config=SMALL, train_config=QUICK, inputs=INPUTS, cache_dir=tmp_path,
                                     root=tiny_emodb)
    assert all(torch.equal(again[key], state[key]) for key in state)
    assert related.arousal_auc(variant, model_config=SMALL, train_config=QUICK, inputs=INPUTS, cache_dir=tmp_path,
                               folds=2, root=tiny_emodb) == auc


@pytest.mark.skipif(not (related.default_emodb() / "manifest.csv").is_file(), reason="EmoDB is not in ../shared/data/emodb")
def test_the_shared_emodb_has_arousal_balanced_within_every_speaker():
    clips = related.emodb_clips()
    assert len({c.speaker for c in clips}) == 10
    for speaker in {c.speaker for c in clips}:
        labels = [c.label for c in clips if c.speaker == speaker]
        assert 0.35 <= np.mean(labels) <= 0.7, speaker
